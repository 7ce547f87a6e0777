"""A tiny churn model: synthetic data, a scikit-learn classifier and its evaluation."""

FEATURES = ["tenure", "monthly_charges", "contract", "support_calls"]
NUMERIC = ["tenure", "monthly_charges", "support_calls"]
CATEGORICAL = ["contract"]
TARGET = "churned"
CONTRACTS = ["month-to-month", "one-year", "two-year"]
