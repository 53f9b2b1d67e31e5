from datetime import date

import pytest

from core.people.identity import id_number_problem, mask_id, mask_name, mask_phone, phone_problem


@pytest.mark.parametrize("value", ["11010519491231002X", "440524188001010014", "11010519491231002x"])
def test_valid_id_numbers(value):
    assert id_number_problem(value, today=date(2026, 11, 23)) is None


@pytest.mark.parametrize(
    "value, fragment",
    [
        ("", "请填写"),
        ("11010519491231002", "18位"),
        ("1101051949123100XX", "18位"),
        ("110105194912310021", "校验位"),
        ("11010519490231002X", "出生日期不存在"),  # 1949-02-31
        ("110105203001010011", "不合理"),  # born in the future
    ],
)
def test_invalid_id_numbers(value, fragment):
    problem = id_number_problem(value, today=date(2026, 11, 23))
    assert problem is not None and fragment in problem


def test_masking():
    assert mask_id("150102195503120244") == "150102********0244"
    assert mask_phone("13804711234") == "138****1234"
    assert mask_name("张桂英") == "张**"
    assert mask_id(None) == "" and mask_phone("") == ""


@pytest.mark.parametrize("value, ok", [("13804711234", True), ("12804711234", False), ("1380471123", False), ("", False)])
def test_phone(value, ok):
    assert (phone_problem(value) is None) is ok
