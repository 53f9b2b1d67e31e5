from tests.conftest import login


def test_demo_seed_and_login(app, client, runner):
    result = runner.invoke(args=["demo", "--if-empty"])
    assert result.exit_code == 0, result.output
    assert "Demo1234" in result.output
    again = runner.invoke(args=["demo", "--if-empty"])
    assert "跳过" in again.output
    r = login(client, "nmg_doctor", "Demo1234")
    assert r.status_code == 302
