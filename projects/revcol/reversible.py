"""Memory-saving backward for a stack of RevCol columns.

A column maps the stem output ``x`` and the previous column's features
``c = (c0, c1, c2, c3)`` to new features ``y`` level by level:

    y0 = alpha0 * c0 + L0(x,  c1)
    y1 = alpha1 * c1 + L1(y0, c2)
    y2 = alpha2 * c2 + L2(y1, c3)
    y3 = alpha3 * c3 + L3(y2)

(the first column has no ``c``: ``y_l = L_l(y_{l-1})``; RevCol-H's extra
branch makes the first line ``y0 = alpha0 * c0 + L0(x, c1, c3)``). The
update is invertible top-down, since every ``c`` a level reads comes from a
higher level: ``c3 = (y3 - L3(y2)) / alpha3``, then
``c2 = (y2 - L2(y1, c3)) / alpha2`` and so on, so a column's inputs can be
rebuilt from its outputs. The gradient of an input ``c_k`` sums over every
level that reads it (levels ``k - 1`` and, for H, 0 as well as the
shortcut ``alpha_k * c_k``).

:class:`RevColumnsFunction` runs all columns under ``no_grad`` and saves only
``x`` and the outputs of some columns (every ``keep_every``-th one and always
the last). The backward walks the columns from last to first; for each column
it recomputes every level once with grad enabled, takes its inputs either
from the kept outputs of the previous column (exact) or by inverting the
update (reversible), and returns the gradients of ``x`` and of every
parameter. Random number generator states are recorded before every level in
the forward and replayed in the backward, so drop path draws the same masks;
the caller's generator state is restored afterwards (``fork_rng``). Autocast
state is replayed as well.

``keep_every=1`` keeps every column's outputs (what the official code saves;
no inversion, so no reconstruction error); ``keep_every=0`` keeps only the
last column (activation memory independent of the number of columns, at the
price of reconstruction error that grows like ``1/|alpha|`` per column in
low precision).
"""
import torch


def _rng_devices(x):
    return [x.device] if x.is_cuda else []


def _get_rng_state(devices):
    cuda = [torch.cuda.get_rng_state(d) for d in devices]
    return torch.get_rng_state(), cuda


def _set_rng_state(state, devices):
    cpu, cuda = state
    torch.set_rng_state(cpu)
    for d, s in zip(devices, cuda):
        torch.cuda.set_rng_state(s, d)


def _kept_columns(num_columns, keep_every):
    """Indices of the columns whose outputs are saved for backward."""
    last = num_columns - 1
    if keep_every <= 0:
        return [last]
    return sorted({k for k in range(num_columns) if (k + 1) % keep_every == 0}
                  | {last})


class RevColumnsFunction(torch.autograd.Function):
    """Run ``columns`` with reversible recomputation in backward.

    ``apply(columns, inter_columns, keep_every, record_rng, x, *params)``
    returns ``(y0, y1, y2, y3)`` of the last column followed by ``y3`` of each
    column in ``inter_columns`` (which must not contain the last column).
    ``params`` are all the columns' parameters that require grad; their
    gradients are returned (not accumulated as a side effect), so
    ``torch.autograd.grad`` and gradient hooks see them.
    """

    @staticmethod
    def forward(ctx, columns, inter_columns, keep_every, record_rng, x,
                *params):
        num = len(columns)
        kept = _kept_columns(num, keep_every)
        devices = _rng_devices(x)
        rng_states = []
        inter_out = []
        state = None
        kept_tensors = []
        with torch.no_grad():
            for k, column in enumerate(columns):
                states = []
                state = column.forward_levels(
                    x, state,
                    before_level=(lambda: states.append(
                        _get_rng_state(devices))) if record_rng else None)
                rng_states.append(states)
                if k in kept:
                    kept_tensors.extend(state)
                if k in inter_columns:
                    inter_out.append(state[3])
        ctx.columns = columns
        ctx.inter_columns = list(inter_columns)
        ctx.kept = kept
        ctx.rng_states = rng_states if record_rng else None
        ctx.devices = devices
        ctx.param_index = {id(p): i for i, p in enumerate(params)}
        ctx.num_params = len(params)
        ctx.autocast = (x.device.type,
                        torch.is_autocast_enabled(x.device.type),
                        torch.get_autocast_dtype(x.device.type))
        ctx.save_for_backward(x, *kept_tensors)
        return (*state, *inter_out)

    @staticmethod
    def backward(ctx, *grads):
        x, *flat = ctx.saved_tensors
        kept = {k: tuple(flat[4 * i:4 * i + 4])
                for i, k in enumerate(ctx.kept)}
        columns = ctx.columns
        num = len(columns)
        last_grads = [torch.zeros_like(t) if g is None else g
                      for g, t in zip(grads[:4], kept[num - 1])]
        inter_grads = dict(zip(ctx.inter_columns, grads[4:]))
        param_grads = [None] * ctx.num_params
        x_d = x.detach().requires_grad_(x.requires_grad)
        grad_x = torch.zeros_like(x)
        device_type, amp_enabled, amp_dtype = ctx.autocast

        y = kept[num - 1]
        gy = last_grads
        with torch.enable_grad(), \
                torch.random.fork_rng(devices=ctx.devices,
                                      enabled=ctx.rng_states is not None), \
                torch.autocast(device_type, dtype=amp_dtype,
                               enabled=amp_enabled):
            for k in range(num - 1, -1, -1):
                g_inter = inter_grads.get(k)
                if g_inter is not None:
                    gy = list(gy)
                    gy[3] = gy[3] + g_inter
                known = kept.get(k - 1) if k > 0 else None
                y, gy = _column_backward(
                    columns[k], x_d, y, gy, known,
                    None if ctx.rng_states is None else ctx.rng_states[k],
                    ctx.devices, ctx.param_index, param_grads, grad_x)
        return (None, None, None, None, grad_x, *param_grads)


def _accumulate(store, index, grad):
    if grad is None or index is None:
        return
    store[index] = grad if store[index] is None else store[index] + grad


def _column_backward(column, x, y, gy, known, rng_states, devices,
                     param_index, param_grads, grad_x):
    """Backward through one column; returns its inputs and their grads.

    ``y`` are the column's outputs, ``gy`` their gradients, ``known`` the
    column's inputs when they were kept (else they are rebuilt by
    inversion). Parameter gradients go into ``param_grads`` (by
    ``param_index``) and the gradient of the stem output into ``grad_x``.
    """
    first = column.first_col
    levels = column.levels()
    alphas = None if first else column.alphas()
    c = [None] * 4 if known is None else list(known)
    g = list(gy)
    g_c = [None] * 4
    for lvl in range(3, -1, -1):
        down = x if lvl == 0 else y[lvl - 1].detach().requires_grad_()
        sources = column.up_sources(lvl)
        ups = [c[k].detach().requires_grad_() for k in sources]
        if rng_states is not None:
            _set_rng_state(rng_states[lvl], devices)
        out = levels[lvl](down, *ups)
        if not first and c[lvl] is None:
            with torch.no_grad():
                c[lvl] = (y[lvl] - out) / alphas[lvl]
        params = [p for p in levels[lvl].parameters() if p.requires_grad]
        inputs = [down] + ups if down.requires_grad else ups
        res = torch.autograd.grad(out, inputs + params, g[lvl],
                                  allow_unused=True)
        res_in, res_p = res[:len(inputs)], res[len(inputs):]
        for p, gp in zip(params, res_p):
            _accumulate(param_grads, param_index.get(id(p)), gp)
        it = iter(res_in)
        if down.requires_grad:
            gd = next(it)
            if gd is not None:
                if lvl == 0:
                    grad_x.add_(gd)
                else:
                    g[lvl - 1] = g[lvl - 1] + gd
        for k, gu in zip(sources, it):
            if gu is not None:
                g_c[k] = gu if g_c[k] is None else g_c[k] + gu
        if not first:
            alpha = alphas[lvl]
            if alpha.requires_grad:
                ga = (g[lvl] * c[lvl]).sum(dim=(0, 2, 3), keepdim=True)
                _accumulate(param_grads, param_index.get(id(alpha)),
                            ga.to(alpha.dtype))
            gc = g[lvl] * alpha
            g_c[lvl] = gc if g_c[lvl] is None else g_c[lvl] + gc
    if first:
        return None, None
    return tuple(c), [torch.zeros_like(t) if gt is None else gt
                      for gt, t in zip(g_c, c)]
