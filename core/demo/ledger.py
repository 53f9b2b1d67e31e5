"""This year's 门特 settlements for two recognised people, each recorded by the hospital's 医保科
on the day it happened, through the benefits service."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from core.benefits import service as benefits
from core.benefits import stays
from core.benefits.inputs import Visit
from core.demo.story import Story
from core.extensions import db
from core.models import User


def seed(story: Story, s: dict, held: dict) -> None:
    wei, zhang = held["wei"], held["zhang"]
    on = story.today
    first = max(on.replace(month=1, day=2), wei.start_date, zhang.start_date)

    def day(days_ago) -> date:  # a date this year, before today
        return max(first, on - timedelta(days=days_ago))

    def visit(rec, clerk, inst, days_ago, amount, items=(), settled_days_ago=None):
        person = _person(rec)
        ctx = story.at(story.moment(rec.region_code, day(settled_days_ago or days_ago)), clerk)
        v = Visit(person, inst, rec.disease_code, day(days_ago), Decimal(amount),
                  [{"name": n, "amount": Decimal(a)} for n, a in items])
        return benefits.settle(ctx, v)

    # 韦小红 (防城港, 职工退休, 高血压): visits at 防城港市第一人民医院, a wrong amount reversed the next
    # day, a hospital stay (an outpatient bill from during the stay, settled after discharge: not covered).
    clerk = s["fcg_yibao"]
    visit(wei, clerk, "H450602001", 250, "386.50", [("硝苯地平控释片", "236.50"), ("血压监测及心电图", "150.00")])
    visit(wei, clerk, "H450602001", 190, "412.00")
    wrong = visit(wei, clerk, "H450602001", 150, "4120.00")
    benefits.reverse(story.at(story.moment(wei.region_code, day(149)), clerk), wrong, "金额多录一位,应为 412.00 元")
    visit(wei, clerk, "H450602001", 150, "412.00", settled_days_ago=149)
    stays.record_stay(story.at(story.moment(wei.region_code, day(92)), clerk), _person(wei), institution_code="H450602001",
                      admitted_on=day(100).isoformat(), discharged_on=day(92).isoformat(), note="高血压急症住院")
    visit(wei, clerk, "H450602001", 95, "268.00", settled_days_ago=90)  # during the stay: not covered
    visit(wei, clerk, "H450602001", 40, "530.80")
    # 张桂英 (内蒙古, 职工退休, 高血压病): at the recognising hospital, and once at one she has not chosen.
    clerk = s["nmg_yibao"]
    visit(zhang, clerk, "H150100001", 200, "640.00")
    visit(zhang, clerk, "H150100001", 120, "720.50")
    visit(zhang, s["nmg_agency"], "H150100003", 60, "310.00")  # not a chosen institution
    visit(zhang, clerk, "H150100001", 20, "685.00")


def _person(rec) -> User:
    return db.session.get(User, rec.person_id)
