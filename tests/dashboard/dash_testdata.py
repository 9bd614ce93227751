"""The hand-made KPI values of the dashboard unit tests (three weeks, two regions)."""
from datetime import date

WEEKS = [date(2026, 10, 12), date(2026, 10, 19), date(2026, 10, 26)]
VISITS = {"east": [100, 110, 105], "west": [200, 190, 210]}
WON = {"east": [20, 22, 8], "west": [40, 38, 42]}  # east's conversion collapses in the last week
REVENUE = {"east": [1000.0, 1100.0, 400.0], "west": [2000.0, 1900.0, 2100.0]}
CHURN = [0.05, 0.06, 0.04]  # lower is better: the last week is good news
