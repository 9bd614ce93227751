"""Analyses over computed KPIs: funnels, explanations of a KPI's build and its changes, root cause."""
