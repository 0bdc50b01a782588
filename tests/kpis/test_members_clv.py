"""The customer-value fit on a known answer: customers drawn from known BG/NBD and Gamma-Gamma
parameters, and the parameters the fit recovers from them."""

import pytest

from omnichannel.kpis.clv import clv_fit, clv_models_refresh, clv_predict
from omnichannel.kpis.models import ClvModelRun
from tests.kpis.clv_synthetic import TRUE, customers_draw


def test_the_fit_recovers_the_parameters_the_customers_were_drawn_from():
    frame = customers_draw(4_000)

    fitted = clv_fit(frame)

    # The purchase rate's shape and scale, and the dropout's Beta parameters (each within the
    # spread a 4,000-customer sample gives; seed 14 lands within 15%).
    assert fitted.r == pytest.approx(TRUE["r"], rel=0.1)
    assert fitted.alpha == pytest.approx(TRUE["alpha"], rel=0.2)
    assert fitted.a == pytest.approx(TRUE["a"], rel=0.2)
    assert fitted.b == pytest.approx(TRUE["b"], rel=0.2)
    # Gamma-Gamma: the population's mean order value p·v / (q − 1) = 30.
    mean = fitted.p * fitted.v / (fitted.q - 1)
    assert mean == pytest.approx(TRUE["p"] * TRUE["v"] / (TRUE["q"] - 1), rel=0.05)

    # Predictions: the fitted model's expected purchases in a year add up, over the sample,
    # close to those of the true parameters.
    purchases, alive, value = clv_predict(fitted, frame)
    true_purchases, _alive, _value = clv_predict(type(fitted)(**TRUE), frame)
    assert purchases.sum() == pytest.approx(true_purchases.sum(), rel=0.1)
    assert ((alive >= 0) & (alive <= 1)).all() and (value >= 0).all()


@pytest.mark.django_db
def test_a_fit_with_no_buyer_is_recorded_as_failed():
    with pytest.raises(ValueError, match="no member has bought yet"):
        clv_models_refresh()
    run = ClvModelRun.objects.get()
    assert run.status == ClvModelRun.Status.FAILED and "no member has bought" in run.error
