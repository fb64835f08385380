"""The baselines' synthetic examples: a deterministic generator of realistic rows per family.

Pure (numpy and pandas): the same name, row count and seed always give the same rows, so a
run on a synthetic dataset can be reproduced from its manifest alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

STORES = 6
OFFERS = ("card_upgrade", "savings_boost", "personal_loan", "travel_insurance", "no_offer")


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # "numeric", "integer", "date" or "categorical"
    description: str


@dataclass(frozen=True)
class Generator:
    name: str
    title: str
    columns: tuple[Column, ...]
    make: Callable[[int, int], pd.DataFrame]

    def rows(self, rows: int, seed: int) -> pd.DataFrame:
        return self.make(rows, seed)


def daily_store_sales(rows: int, seed: int) -> pd.DataFrame:
    """Daily unit sales of a few stores: weekly and yearly seasonality, promotions that
    lift sales, a price effect, a slow trend and autocorrelated noise."""
    rng = np.random.default_rng(seed)
    days = max(rows // STORES, 60)
    dates = pd.date_range("2024-01-01", periods=days, freq="D")
    weekly = np.array([0.85, 0.9, 0.95, 1.0, 1.15, 1.35, 1.2])
    frames = []
    for store in range(1, STORES + 1):
        level = rng.uniform(80, 220)
        promo = (rng.random(days) < 0.12).astype(int)
        price = np.round(rng.normal(10, 0.6, days) - promo * 1.2, 2)
        noise = np.zeros(days)
        for t in range(1, days):  # AR(1): a good day is often followed by a good day
            noise[t] = 0.5 * noise[t - 1] + rng.normal(0, 0.06)
        season = 1 + 0.15 * np.sin(2 * np.pi * dates.day_of_year.to_numpy() / 365.25)
        trend = 1 + 0.0004 * np.arange(days)
        sales = (
            level
            * weekly[dates.day_of_week.to_numpy()]
            * season
            * trend
            * (1 + 0.3 * promo)
            * (10 / price) ** 1.2
            * np.exp(noise)
        )
        frames.append(
            pd.DataFrame(
                {
                    "date": dates.strftime("%Y-%m-%d"),
                    "store_id": store,
                    "promo": promo,
                    "price": price,
                    "sales": np.round(sales, 1),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def price_response(rows: int, seed: int) -> pd.DataFrame:
    """Weekly demand of a product at a price: constant elasticity around a competitor's
    price, seasonality, promotions and stock-outs that cap demand."""
    rng = np.random.default_rng(seed)
    base_price = rng.uniform(5, 50, rows)
    competitor = np.round(base_price * rng.normal(1.0, 0.08, rows), 2)
    price = np.round(base_price * rng.uniform(0.8, 1.2, rows), 2)
    month = rng.integers(1, 13, rows)
    promo = (rng.random(rows) < 0.15).astype(int)
    elasticity = rng.uniform(1.2, 2.2, rows)
    season = 1 + 0.2 * np.cos(2 * np.pi * (month - 12) / 12)
    demand = (
        400
        * (price / competitor) ** (-elasticity)
        * season
        * (1 + 0.25 * promo)
        * np.exp(rng.normal(0, 0.1, rows))
    )
    inventory = np.round(demand * rng.uniform(0.8, 1.6, rows))
    return pd.DataFrame(
        {
            "price": price,
            "competitor_price": competitor,
            "relative_price": np.round(price / competitor, 4),
            "month": month,
            "promo": promo,
            "inventory": inventory,
            "units_sold": np.round(np.minimum(demand, inventory), 1),
        }
    )


def offer_choice(rows: int, seed: int) -> pd.DataFrame:
    """The offer a customer accepted, driven by age, balance, tenure, travel and debt."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, rows)
    tenure = rng.integers(0, 240, rows)
    balance = np.round(rng.lognormal(8, 1.1, rows), 2)
    travel_spend = np.round(rng.gamma(2, 150, rows), 2)
    debt_ratio = np.round(rng.beta(2, 5, rows), 3)
    visits = rng.poisson(4, rows)
    scores = np.column_stack(
        [
            0.02 * tenure + 0.3 * visits - 1.5,  # card upgrade: loyal, active customers
            0.0002 * balance + 0.03 * (age - 40) - 1.0,  # savings: older, richer
            4.0 * debt_ratio - 0.02 * (age - 30) - 0.8,  # loan: young, indebted
            0.004 * travel_spend - 1.2,  # travel insurance: travellers
            np.full(rows, 0.3),  # no offer
        ]
    ) + rng.gumbel(0, 0.7, (rows, len(OFFERS)))
    return pd.DataFrame(
        {
            "age": age,
            "tenure_months": tenure,
            "balance": balance,
            "travel_spend": travel_spend,
            "debt_ratio": debt_ratio,
            "visits_30d": visits,
            "offer": np.array(OFFERS)[scores.argmax(axis=1)],
        }
    )


def site_scores(rows: int, seed: int) -> pd.DataFrame:
    """Candidate retail sites and the revenue index they reached once open."""
    rng = np.random.default_rng(seed)
    density = np.round(rng.lognormal(7.5, 0.6, rows))
    foot_traffic = np.round(density * rng.uniform(0.2, 1.4, rows))
    competitors = rng.poisson(3, rows)
    income = np.round(rng.normal(42000, 9000, rows))
    parking = rng.integers(0, 120, rows)
    transit = np.round(rng.uniform(0, 10, rows), 1)
    score = (
        20 * np.log1p(foot_traffic)
        + 0.0006 * income
        - 6 * competitors
        + 0.15 * parking
        + 2.5 * transit
        + rng.normal(0, 8, rows)
    )
    return pd.DataFrame(
        {
            "population_density": density,
            "foot_traffic": foot_traffic,
            "competitors_nearby": competitors,
            "median_income": income,
            "parking_spaces": parking,
            "transit_score": transit,
            "site_score": np.round(np.clip(score, 0, None), 2),
        }
    )


GENERATORS: dict[str, Generator] = {
    g.name: g
    for g in (
        Generator(
            "daily_store_sales",
            "Daily sales per store",
            (
                Column("date", "date", "The day (ISO date)."),
                Column("store_id", "integer", "The store."),
                Column("promo", "integer", "1 when a promotion ran that day."),
                Column("price", "numeric", "The average shelf price."),
                Column("sales", "numeric", "Units sold (the label)."),
            ),
            daily_store_sales,
        ),
        Generator(
            "price_response",
            "Demand at a price",
            (
                Column("price", "numeric", "Our price."),
                Column("competitor_price", "numeric", "The main competitor's price."),
                Column("relative_price", "numeric", "price / competitor_price."),
                Column("month", "integer", "1-12."),
                Column("promo", "integer", "1 during a promotion."),
                Column("inventory", "numeric", "Units in stock (caps the sales)."),
                Column("units_sold", "numeric", "Units sold that week (the label)."),
            ),
            price_response,
        ),
        Generator(
            "offer_choice",
            "Offers customers accepted",
            (
                Column("age", "integer", "Years."),
                Column("tenure_months", "integer", "Months as a customer."),
                Column("balance", "numeric", "Account balance."),
                Column("travel_spend", "numeric", "Card spend on travel, last 90 days."),
                Column("debt_ratio", "numeric", "Debt / income."),
                Column("visits_30d", "integer", "App and branch visits, last 30 days."),
                Column("offer", "categorical", f"The accepted offer: {', '.join(OFFERS)}."),
            ),
            offer_choice,
        ),
        Generator(
            "site_scores",
            "Candidate sites",
            (
                Column("population_density", "numeric", "Residents per km²."),
                Column("foot_traffic", "numeric", "Passers-by per day."),
                Column("competitors_nearby", "integer", "Competing stores within 1 km."),
                Column("median_income", "numeric", "Median household income of the area."),
                Column("parking_spaces", "integer", "Parking spaces on site."),
                Column("transit_score", "numeric", "0-10, public transport access."),
                Column("site_score", "numeric", "Revenue index after a year (the label)."),
            ),
            site_scores,
        ),
    )
}
DEFAULT_ROWS = 1200
DEFAULT_SEED = 7


def generate(name: str, *, rows: int = DEFAULT_ROWS, seed: int = DEFAULT_SEED) -> pd.DataFrame:
    return GENERATORS[name].rows(rows, seed)
