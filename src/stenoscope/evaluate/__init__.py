"""Metrics (classification, clip votes, localisation, bootstrap CIs) and model evaluation on any dataset."""
