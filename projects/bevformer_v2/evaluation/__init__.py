"""BEVFormer v2 evaluation."""
