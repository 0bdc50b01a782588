"""Every spelling in formats/README.md normalises to one form; masked and bad values are refused."""

import pytest

from crm import normalize
from crm.services import identifiers_normalize


@pytest.mark.parametrize(
    "raw",
    [
        "0912-345-678",
        "0912345678",
        "+886 912 345 678",
        "+886912345678",
        "886912345678",
        "00886912345678",
        "０９１２３４５６７８",
        "(0912) 345.678",
        " 0912 345 678 ",
    ],
)
def test_every_phone_spelling_is_one_e164(raw):
    assert normalize.normalize_phone(raw) == "+886912345678"


def test_landline_is_e164():
    assert normalize.normalize_phone("02-2345-6789") == "+886223456789"


@pytest.mark.parametrize("raw", ["09******78", "0912***678", "0912＊＊＊678"])
def test_masked_phone_is_no_identifier(raw):
    with pytest.raises(normalize.MaskedIdentifier):
        normalize.normalize_phone(raw)


@pytest.mark.parametrize("raw", ["12345", "hello", "0912-345"])
def test_invalid_phone_is_refused(raw):
    with pytest.raises(normalize.InvalidIdentifier):
        normalize.normalize_phone(raw)


def test_email_is_trimmed_lower_case_and_full_width_at_folded():
    assert normalize.normalize_email(" Meiling.Chen＠Example.com ") == "meiling.chen@example.com"


def test_invalid_email_is_refused():
    with pytest.raises(normalize.InvalidIdentifier):
        normalize.normalize_email("not-an-email")


def test_line_user_id_must_be_u_and_32_hex():
    good = "U4af4980629e06f7f64a1a0f1e5ad1b3c"
    assert normalize.normalize_line_user_id(good) == good
    with pytest.raises(normalize.InvalidIdentifier):
        normalize.normalize_line_user_id("U4AF4980629E06F7F64A1A0F1E5AD1B3C")


def test_einvoice_carrier_is_upper_case_slash_and_seven():
    assert normalize.normalize_einvoice_carrier("/abc+123") == "/ABC+123"
    with pytest.raises(normalize.InvalidIdentifier):
        normalize.normalize_einvoice_carrier("ABC+1234")


def test_card_and_marketplace_buyer():
    assert normalize.normalize_card(" a00012345 ") == "A00012345"
    assert normalize.normalize_marketplace_buyer("Shopee:Mei_Chen88") == "shopee:mei_chen88"


def test_identifiers_normalize_keeps_good_and_reports_skipped():
    result = identifiers_normalize(
        {"phone": "09******78", "email": "Mei@Example.com", "pos_card": "", "member_no": "m000123"}
    )

    assert [i.key for i in result.identifiers] == ["email:mei@example.com"]
    assert result.member_no == "M000123"
    assert result.skipped == [("phone", "09******78", "masked phone number")]


def test_fast_path_for_taiwan_mobiles_agrees_with_phonenumbers():
    import random

    import phonenumbers

    rng = random.Random(3)
    spellings = ["0{}", "+886{}", "886{}", "00886{}", "+886 {}", "0{}-"]
    for _ in range(2000):
        digits = f"9{rng.randrange(10**8):08d}"
        raw = rng.choice(spellings).format(digits)
        # The library's own answer for the national spelling, which it must also call valid.
        number = phonenumbers.parse(f"0{digits}", "TW")
        assert phonenumbers.is_valid_number(number)
        expected = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        assert normalize.normalize_phone(raw.rstrip("-")) == expected
