"""BEVFormer v2 structures."""
