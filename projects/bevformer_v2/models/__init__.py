"""BEVFormer v2 models."""
