"""PNG plots of a search: the reward of every sample with the round means
and the best so far, and the functions of the policy mean and of the best
sample."""
import os.path as osp


def plot_search(history, space, mean_theta, best_theta, out_dir, metric):
    import matplotlib
    matplotlib.use('Agg', force=False)
    import matplotlib.pyplot as plt

    rows = sorted(history, key=lambda r: (r['round'], r['index']))
    fig, ax = plt.subplots(figsize=(7, 4))
    ok = [(k, r) for k, r in enumerate(rows) if r['status'] == 'ok']
    bad = [(k, r) for k, r in enumerate(rows) if r['status'] != 'ok']
    ax.scatter([k for k, _ in ok], [r['reward'] for _, r in ok], s=12,
               label='sample')
    if bad:
        ax.scatter([k for k, _ in bad], [0.0] * len(bad), marker='x',
                   color='red', label='failed (reward 0)')
    best, best_y = -float('inf'), []
    for r in rows:
        if r['status'] == 'ok':
            best = max(best, r['reward'])
        best_y.append(best if best > -float('inf') else float('nan'))
    ax.plot(range(len(rows)), best_y, color='black', label='best so far')
    rounds = sorted({r['round'] for r in rows})
    xs, ys = [], []
    for t in rounds:
        ks = [k for k, r in enumerate(rows) if r['round'] == t]
        xs.append(sum(ks) / len(ks))
        ys.append(sum(rows[k]['reward'] for k in ks) / len(ks))
    ax.plot(xs, ys, 'o-', color='tab:orange', label='round mean')
    ax.set_xlabel('sample (in order of rounds)')
    ax.set_ylabel(metric)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(osp.join(out_dir, 'reward_history.png'), dpi=100)
    plt.close(fig)

    curves = {'mean': space.curves(mean_theta)}
    if best_theta is not None:
        curves['best'] = space.curves(best_theta)
    names = list(curves['mean'])
    cols = min(5, len(names))
    nrows = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(2.6 * cols, 2.6 * nrows),
                             squeeze=False)
    for ax, name in zip(axes.flat, names):
        for label, style in (('mean', '-'), ('best', '--')):
            if label in curves:
                x, y = curves[label][name]
                ax.plot(x, y, style, label=f'policy {label}'
                        if label == 'mean' else 'best sample')
        ax.plot([0, 1], [0, 1], ':', color='gray', linewidth=0.8)
        ax.set_title(name, fontsize=9)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
    for ax in list(axes.flat)[len(names):]:
        ax.axis('off')
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(osp.join(out_dir, 'best_curves.png'), dpi=100)
    plt.close(fig)
