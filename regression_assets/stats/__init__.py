"""Pure statistics (numpy / pandas / scikit-learn / PyMC): no Dagster import anywhere in this package."""
