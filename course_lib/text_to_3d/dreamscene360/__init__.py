"""DreamScene360 (Zhou et al., 2024, arXiv 2404.06903): text -> 360° panorama -> aligned geometry -> Gaussian splats (chapter 05)."""
