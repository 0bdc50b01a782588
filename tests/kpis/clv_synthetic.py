"""Customers drawn from known BG/NBD and Gamma-Gamma parameters (the models' own generative
story, Fader, Hardie & Lee 2005; Fader & Hardie 2013), for the known-answer test of the fit."""

import numpy as np
import pandas as pd

TRUE = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5, "p": 6.0, "q": 4.0, "v": 15.0}


def customers_draw(n: int, *, seed: int = 14, params: dict = TRUE) -> pd.DataFrame:
    """customer_id, frequency, recency, T (weeks) and monetary_value (the mean of the repeat
    purchases' values) of n customers observed 26 to 78 weeks after their first purchase."""
    rng = np.random.default_rng(seed)
    rows = []
    for customer in range(n):
        rate = rng.gamma(params["r"], 1 / params["alpha"])
        dropout = rng.beta(params["a"], params["b"])
        horizon = rng.uniform(26, 78)
        # Repeat purchases come at the customer's rate; after each one the customer may leave.
        t = last = 0.0
        purchases = 0
        while True:
            t += rng.exponential(1 / rate)
            if t > horizon:
                break
            purchases, last = purchases + 1, t
            if rng.random() < dropout:
                break
        spend_rate = rng.gamma(params["q"], 1 / params["v"])
        values = rng.gamma(params["p"], 1 / spend_rate, size=purchases)
        rows.append((customer + 1, purchases, last, horizon, values.mean() if purchases else 0.0))
    return pd.DataFrame.from_records(
        rows, columns=["customer_id", "frequency", "recency", "T", "monetary_value"]
    )
