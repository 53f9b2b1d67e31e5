"""The plugin system and the contract every region plugin must keep."""
from __future__ import annotations

import inspect
import textwrap
from decimal import Decimal

import pytest

from app import create_app
from core import hookimpl
from core.kernel import hookspecs
from core.plugins import PluginError, make_plugin_manager
from core.regions import Regions
from core.kernel.types import Disease, Division, Institution, RegionInfo, ReviewStep

YEARS = (2026, 2027)


def all_region_codes():
    return Regions(make_plugin_manager()).codes()


def test_every_hook_is_prefixed_and_documented():
    specs = [(n, f) for n, f in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(f, "mtkit_spec")]
    assert len(specs) >= 10
    for name, func in specs:
        assert name.startswith("mtkit_"), name
        assert (func.__doc__ or "").strip(), f"{name} has no docstring"


def test_builtin_regions_are_registered():
    assert set(all_region_codes()) >= {"150000", "450600"}


@pytest.mark.parametrize("code", all_region_codes())
def test_region_contract(code):
    """Every registered region answers every core hook with well-formed data."""
    regions = Regions(make_plugin_manager())
    info = regions.get(code)
    assert info.name and info.divisions and info.intake in ("hospital", "office")
    assert len({d.code for d in info.divisions}) == len(info.divisions)
    intake = [i for i in info.institutions if i.kind == info.intake and i.qualified]
    assert intake, "a region needs at least one institution that can take applications"
    assert all(info.division(i.division_code) or i.division_code == code for i in info.institutions)
    for year in YEARS:
        regions.check(year)
        catalogue = regions.catalogue(code, year)
        assert catalogue
        for d in catalogue:
            assert d.national_code.startswith("M") and len(d.national_code) == 6, d
            assert d.annual_limit > 0 and Decimal("0") < d.ratio_employed <= 1 and Decimal("0") < d.ratio_retired <= 1
            assert d.validity_months >= 1
            for kind in ("new", "renewal"):
                materials = regions.materials(code, d.code, kind)
                assert any(m.required for m in materials), (d.code, kind)
        # A benefit policy, when the region has one, covers every catalogue disease for every category.
        policy = regions.benefit_policy(code, year)
        if policy.configured:
            assert set(policy.deductible) == {"employed", "retired", "resident"}
            assert all(v >= 0 for v in policy.deductible.values())
            assert policy.year_rule in ("visit", "settlement") and policy.limit_basis in ("eligible", "fund")
            for d in catalogue:
                for category in ("employed", "retired", "resident"):
                    rate = policy.rate(d.code, category)
                    assert rate is not None and Decimal("0") < rate.ratio <= 1 and rate.annual_limit > 0, (d.code, category)
    channels = regions.channels(code)
    assert channels and all(c.strengths and c.weaknesses and c.suits for c in channels)
    for fast in (False, True):
        steps = regions.steps(code, fast)
        assert steps[-1].kind == "record", "the last step must make the decision final"
        assert any(s.kind == "review" for s in steps)
        assert all(s.role in ("physician", "hospital_office", "agency_reviewer", "expert") for s in steps)
    # Hooks answer only for their own region.
    assert regions.pm.hook.mtkit_disease_catalog(region="000000", year=2026) is None
    assert regions.pm.hook.mtkit_benefit_policy(region="000000", year=2026).version == ""  # the core default


def test_neimenggu_rules_from_the_seed():
    regions = Regions(make_plugin_manager())
    info = regions.get("150000")
    assert len(info.divisions) == 12 and info.division("152900").name == "阿拉善盟"
    catalogue = regions.catalogue("150000", 2026)
    assert len(catalogue) >= 20
    fast = {d.national_code for d in catalogue if d.fast_track}
    assert {"M00503", "M07803", "M07804"} <= fast and "M03900" not in fast
    normal, quick = regions.steps("150000", False), regions.steps("150000", True)
    physician = [s for s in normal if s.role == "physician"]
    assert physician and all(s.min_title == "副主任医师" for s in physician)
    assert [s.role for s in quick] == ["physician", "hospital_office"]
    assert normal[-1].role == "hospital_office"
    tumour = [m.name for m in regions.materials("150000", "M00503", "new")]
    assert any("病理" in n for n in tumour) and any("诊断书" in n for n in tumour)


def test_fangchenggang_rules_from_the_seed():
    regions = Regions(make_plugin_manager())
    assert [d.code for d in regions.get("450600").divisions] == ["450602", "450603", "450621", "450681"]
    by_name = {d.name: d for d in regions.catalogue("450600", 2026)}
    assert by_name["高血压"].annual_limit == Decimal("2000")
    assert (by_name["高血压"].ratio_employed, by_name["高血压"].ratio_retired) == (Decimal("0.70"), Decimal("0.75"))
    assert by_name["糖尿病"].annual_limit == Decimal("2500")
    assert by_name["恶性肿瘤门诊治疗"].annual_limit == Decimal("100000")
    assert by_name["恶性肿瘤门诊治疗"].ratio_retired == Decimal("0.80")
    assert by_name["肝硬化"].annual_limit == Decimal("4000")
    steps = regions.steps("450600", False)
    assert [(s.kind, s.sla_working_days) for s in steps if s.kind in ("review", "record")] == [("review", 5), ("record", 3)]
    assert any(s.kind == "expert" and s.optional for s in steps)
    renewal = " ".join(m.name for m in regions.materials("450600", "FCG001", "renewal"))
    assert "续办申请表" in renewal and "认定审批表" in renewal


def test_mtkit_regions_enables_a_subset(tmp_path):
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://", "MTKIT_REGIONS": ["450600"]})
    assert app.extensions["mtkit_regions"].codes() == ["450600"]


def test_unknown_region_in_mtkit_regions_stops_startup():
    with pytest.raises(PluginError, match="999999"):
        make_plugin_manager(["999999"])


class DuplicateNeimenggu:
    @hookimpl
    def mtkit_region(self):
        return RegionInfo(code="150000", name="重复", short_name="重复", divisions=(), intake="office")


def test_duplicate_region_code_stops_startup():
    with pytest.raises(PluginError, match="150000"):
        make_plugin_manager(extra_plugins=[DuplicateNeimenggu()])


class DuplicateDiseases:
    @hookimpl(tryfirst=True)
    def mtkit_disease_catalog(self, region, year):
        if region != "450600":
            return None
        d = Disease("X1", "M03900", "高血压", Decimal("1"), Decimal("0.7"), Decimal("0.7"), 12)
        return [d, d]


class RegionWithDuplicateDisease:
    """A whole (tiny) region whose catalogue lists one code twice."""

    @hookimpl
    def mtkit_region(self):
        return RegionInfo(code="980000", name="重复病种地区", short_name="重复", intake="office",
                          divisions=(Division("980100", "一区"),),
                          institutions=(Institution("O1", "窗口", "980100", "office"),))

    @hookimpl
    def mtkit_disease_catalog(self, region, year):
        if region == "980000":
            d = Disease("X1", "M03900", "高血压", Decimal("1"), Decimal("0.7"), Decimal("0.7"), 12)
            return [d, d]

    @hookimpl
    def mtkit_review_steps(self, region, fast_track):
        if region == "980000":
            return [ReviewStep("r", "初审", "agency_reviewer", "review"), ReviewStep("n", "通知", "agency_reviewer", "record")]


def test_duplicate_disease_code_stops_startup():
    with pytest.raises(PluginError, match="X1"):
        create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://",
                    "MTKIT_EXTRA_PLUGINS": [RegionWithDuplicateDisease()]})


def test_two_plugins_answering_one_region_stop_startup():
    with pytest.raises(PluginError, match="多个插件"):
        create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://", "MTKIT_EXTRA_PLUGINS": [DuplicateDiseases()]})


class Misspelled:
    @hookimpl
    def mtkit_diseases_catalog(self, region, year):  # typo: not a hook
        return []


def test_misspelled_hook_stops_startup():
    with pytest.raises(PluginError, match="mtkit_diseases_catalog"):
        make_plugin_manager(extra_plugins=[Misspelled()])


def test_third_party_region_found_through_entry_point(tmp_path, monkeypatch):
    """A region installed as a package with an entry point in group 'mtkit' is picked up."""
    (tmp_path / "mtkit_region_demo.py").write_text(textwrap.dedent('''
        from decimal import Decimal
        from core import hookimpl, Disease, Division, Institution, RegionInfo

        @hookimpl
        def mtkit_region():
            return RegionInfo(code="990000", name="测试地区", short_name="测试",
                              divisions=(Division("990100", "测试区"),), intake="office",
                              institutions=(Institution("O1", "测试窗口", "990100", "office"),))

        @hookimpl
        def mtkit_disease_catalog(region, year):
            if region == "990000":
                return [Disease("T1", "M03900", "高血压", Decimal("100"), Decimal("0.5"), Decimal("0.5"), 12)]
    '''))
    dist = tmp_path / "mtkit_region_demo-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mtkit-region-demo\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[mtkit]\ndemo = mtkit_region_demo\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    regions = Regions(make_plugin_manager())
    assert "990000" in regions.codes()
    assert regions.catalogue("990000", 2026)[0].name == "高血压"
    only = Regions(make_plugin_manager(["990000"]))
    assert only.codes() == ["990000"]


def test_plugin_manager_is_built_per_app():
    a = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    b = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://", "MTKIT_REGIONS": ["150000"]})
    assert a.extensions["mtkit_pm"] is not b.extensions["mtkit_pm"]
    assert set(a.extensions["mtkit_regions"].codes()) > set(b.extensions["mtkit_regions"].codes())


def test_region_data_errors_name_the_file_and_line(tmp_path):
    """A bureau's bad edit stops loading with the file, the line and what is wrong."""
    import shutil

    from regions._loader import RegionData

    data = tmp_path / "data"
    shutil.copytree("regions/fangchenggang/data", data)
    rows = (data / "diseases.csv").read_text(encoding="utf-8").splitlines()
    header = rows[0].split(",")
    first = next(i for i, r in enumerate(rows) if r.startswith("FCG001"))
    cells = rows[first].split(",")
    cells[header.index("name")] = "很" * 101
    rows[first] = ",".join(cells)
    (data / "diseases.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(ValueError) as e:
        RegionData(data)
    assert "diseases.csv" in str(e.value) and f"第 {first + 1} 行" in str(e.value) and "最多 100" in str(e.value)


@pytest.mark.parametrize(
    "file, old, new, words",
    [
        ("benefits.toml", "employed = 200", "employed = 200.005", "deductible.employed"),
        ("benefits.toml", "resident = 300", "", "缺少 resident"),
        ("benefits.toml", 'year_rule = "visit"', 'year_rule = "calendar"', "year_rule"),
        ("benefits.toml", "valid_from = 2025", "valid_from = 1999", "valid_from"),
        ("benefit_rates.csv", "*,resident,,0.60", "*,resident,,1.60", "第 5 行"),
        ("benefit_rates.csv", "*,resident,,0.60", "*,student,,0.60", "人员类别"),
        ("benefit_rates.csv", "FCG003,resident", "FCG999,resident", "不在 diseases.csv"),
    ],
)
def test_benefit_data_errors_name_the_file_and_problem(tmp_path, file, old, new, words):
    import shutil

    from regions._loader import RegionData

    data = tmp_path / "data"
    shutil.copytree("regions/fangchenggang/data", data)
    text = (data / file).read_text(encoding="utf-8")
    assert old in text
    (data / file).write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ValueError) as e:
        RegionData(data)
    assert file in str(e.value) and words in str(e.value)


def test_benefit_policy_versions_change_with_the_figures(tmp_path):
    """Settlements store the version: an edited figure gives another version even if the label stays."""
    import shutil

    from regions._loader import RegionData

    data = tmp_path / "data"
    shutil.copytree("regions/fangchenggang/data", data)
    before = RegionData(data).benefit_policy(2026)
    (data / "benefit_rates.csv").write_text(
        (data / "benefit_rates.csv").read_text(encoding="utf-8").replace("*,resident,,0.60", "*,resident,,0.65"), encoding="utf-8"
    )
    after = RegionData(data).benefit_policy(2026)
    assert before.version != after.version and before.version.split("/")[0] == after.version.split("/")[0]
    assert after.rate("FCG001", "resident").ratio == Decimal("0.65")
    assert RegionData(data).benefit_policy(2024) is None
