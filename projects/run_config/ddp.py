"""``DDPStrategy`` for ``FlexibleRunner`` checkpoints with the model's keys."""
from mmengine._strategy.distributed import DDPStrategy as _MMEngineDDPStrategy
from mmengine.model import is_model_wrapper
from mmengine.registry import STRATEGIES
from mmengine.runner import weights_to_cpu


@STRATEGIES.register_module(force=True)
class DDPStrategy(_MMEngineDDPStrategy):
    """mmengine's ``DDPStrategy`` (same arguments) saving the wrapped
    model's own state dict, as mmengine's ``Runner`` does, instead of the
    DDP wrapper's (every key prefixed with ``module.``)."""

    def model_state_dict(self):
        model = self.model.module if is_model_wrapper(self.model) \
            else self.model
        return weights_to_cpu(model.state_dict())
