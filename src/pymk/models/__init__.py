"""Learned models of pymk: the LightGBM ranker and the candidates + features + ranker pipeline."""
