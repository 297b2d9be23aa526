"""BEVFormer v2 datasets."""
