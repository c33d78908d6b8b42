"""Algorithms (issue 5). For now: the return estimators they share (`returns`)."""
