"""The demo applications, one story each: who filed what when, and who did each review step.

Days are counted back from today in the region's working days; each step waits a plausible number
of working days, within its time limit unless the story is about a late step. The last step of
any story happens before today, so nothing is stamped later than now.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import date

from dateutil.relativedelta import relativedelta

from core.demo.story import Case, Story
from core.kernel.time import local_date, validity_end
from core.models import Recognition
from core.recognitions import service as recs

NMG, FCG = "150000", "450600"


def seed(story: Story, s: dict, zhang, liu, ma, wei, huang, li) -> dict:
    """Every status in both regions; returns the recognitions the benefits ledger settles against."""
    back = story.back

    # ---- Inner Mongolia: the person applies at a qualified hospital; 医保科 accepts, the physician
    # decides, 医保科 records (fast track: physician, then record).
    Case(story, zhang, "H150100001", ["M05400"], back(NMG, 1))  # a draft, nothing uploaded yet
    Case(story, liu, "H150100001", ["M01600"], back(NMG, 7)).upload().submit(1)  # 受理 late (2 working days)
    Case(story, liu, "H150100001", ["M04600"], back(NMG, 4)).upload().submit().act(s["nmg_yibao"], "accept")
    Case(story, ma, "H150200001", ["M04600", "M03900"], back(NMG, 3)).upload().submit().act(s["bt_yibao"], "accept")
    (Case(story, zhang, "H150100001", ["M05300"], back(NMG, 12)).upload().submit()
     .act(s["nmg_yibao"], "return", to="applicant", note="病情诊断书未加盖医院公章,请补正"))
    (Case(story, liu, "H150100001", ["M00503"], back(NMG, 30)).upload().submit()  # fast track
     .decide(s["nmg_doctor"], "approved").act(s["nmg_yibao"], "record"))
    (Case(story, ma, "H150200001", ["M01600", "M06900"], back(NMG, 25)).upload().submit(1)
     .act(s["bt_yibao"], "accept")
     .act(s["bt_doctor"], "decide", 3, results={"M01600": "approved", "M06900": "rejected"}, reason_code="R01")
     .act(s["bt_yibao"], "record"))  # partly approved
    (Case(story, zhang, "H150100001", ["M02300"], back(NMG, 40)).upload().submit()
     .act(s["nmg_yibao"], "accept").decide(s["nmg_doctor"], "rejected", 4, reason="R03").act(s["nmg_yibao"], "record", 2))
    Case(story, liu, "H150100001", ["M04301"], back(NMG, 15)).upload().submit().withdraw("先去复查", 2)
    # Returned about two months ago and never answered: the expiry sweep closed it (逾期未补正).
    (Case(story, ma, "H150200001", ["M02500"], back(NMG, 45)).upload().submit()
     .act(s["bt_yibao"], "return", to="applicant", note="请补充癫痫发作记录及脑电图报告").lapse("M02500"))

    # ---- Fangchenggang: the agency's window accepts and reviews, an expert may be asked, the
    # agency issues the result (结果通知).
    Case(story, wei, "O450600001", ["FCG004"], back(FCG, 2))  # a draft, nothing uploaded yet
    Case(story, wei, "O450600001", ["FCG002"], back(FCG, 4)).upload().submit()  # 受理 late (1 working day)
    (Case(story, huang, "O450681001", ["FCG009"], back(FCG, 6)).upload().submit(1).act(s["dx_review"], "accept")
     .act(s["dx_review"], "refer_expert", 2, note="病情需专家复评"))  # the expert's turn
    (Case(story, li, "O450603001", ["FCG010"], back(FCG, 10)).upload().submit().act(s["fcg_review"], "accept")
     .act(s["fcg_review"], "return", 2, to="applicant", note="请补充近半年检查检验报告"))
    (Case(story, huang, "O450681001", ["FCG002"], back(FCG, 28)).upload().submit().act(s["dx_review"], "accept")
     .decide(s["dx_review"], "approved", 3).act(s["dx_review"], "record", 2))
    (Case(story, li, "O450603001", ["FCG011"], back(FCG, 35)).upload().submit().act(s["fcg_review"], "accept")
     .decide(s["fcg_review"], "rejected", 4, reason="R02").act(s["fcg_review"], "record"))
    (Case(story, wei, "O450600001", ["FCG008", "FCG012"], back(FCG, 20)).upload().submit().act(s["fcg_review"], "accept")
     .act(s["fcg_review"], "decide", 4, results={"FCG008": "approved", "FCG012": "rejected"}, reason_code="R01")
     .act(s["fcg_review"], "record"))  # partly approved
    Case(story, huang, "O450681001", ["FCG005"], back(FCG, 9)).upload().submit().withdraw("已到外地就医")
    (Case(story, li, "O450603001", ["FCG014"], back(FCG, 50)).upload().submit(1)
     .act(s["fcg_review"], "return", to="applicant", note="请补充痰检及胸部CT报告").lapse("FCG014"))

    # ---- Recognitions with a past: two close to their end (the 3-month renewal window is open today),
    # one that ended last week without renewal (the first daily job run marks it 已到期 and tells 黄志明),
    # one renewed in time.
    wei_rec = _recognised(story, s, wei, "O450600001", "FCG001", ends=story.today + relativedelta(months=2, days=20))
    zhang_rec = _recognised(story, s, zhang, "H150100001", "M03900", ends=story.today + relativedelta(months=2, days=10))
    _recognised(story, s, huang, "O450681001", "FCG003", ends=story.today - relativedelta(days=7))
    first, first_end = _recognised(story, s, ma, "H150200001", "M00504", ends=story.today - relativedelta(months=8))
    (Case(story, ma, None, [], back(NMG, 30, start=first_end), renewal_of=first).upload().submit()
     .act(s["bt_yibao"], "accept").decide(s["bt_doctor"], "approved", 3).act(s["bt_yibao"], "record", 2))

    story.run()  # every step above, in the order they happened
    return {"wei": wei_rec[0](), "zhang": zhang_rec[0]()}


# Who accepts, decides and records, by the institution that handles the application.
REVIEWERS = {"H150100001": ("nmg_yibao", "nmg_doctor", "nmg_yibao"), "H150200001": ("bt_yibao", "bt_doctor", "bt_yibao"),
             "O450681001": ("dx_review", "dx_review", "dx_review")}
CITY_REVIEWERS = ("fcg_review", "fcg_review", "fcg_review")  # 防城港市医保中心 and the districts without their own reviewer


def _recognised(story: Story, s: dict, person, inst: str, code: str, ends) -> tuple[Callable[[], Recognition], date]:
    """An earlier application approved so that its recognition ends about ``ends``: recorded on the
    working day its validity must start, after a review at the usual pace. Returns how to find the
    recognition once the story has run, and its end date."""
    region = person.region_code
    months = story.ctx.regions.disease(region, code, ends.year).validity_months
    recorded = story.on_or_before(region, ends + relativedelta(days=1) - relativedelta(months=months))
    assert validity_end(recorded, months) <= ends
    accept, review, record = (s[u] for u in REVIEWERS.get(inst, CITY_REVIEWERS))
    # 防城港: filed at the agency's window by its staff (代办); 内蒙古: online by the person.
    window = dict(channel="window", filer=accept) if region == FCG else {}
    case = Case(story, person, inst, [code], story.back(region, 7, start=recorded), **window)
    if story.ctx.regions.disease(region, code, recorded.year).fast_track:
        case.upload().submit(5).decide(review, "approved", 1).act(record, "record", 1)
    else:
        case.upload().submit().act(accept, "accept", 1).decide(review, "approved", 3).act(record, "record", 3)
    if local_date(case.t, story.ctx.regions.timezone(region)) != recorded:  # the story's arithmetic is off
        raise RuntimeError(f"demo recognition {code} would start {case.t}, expected {recorded}")
    return (lambda: recs.of_application(case.app.id)[code]), validity_end(recorded, months)
