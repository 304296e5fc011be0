"""Where things are in the city: district codes and the bureaus that supervise them.

One list for every service and the gateway (DOMAIN.md "Bureaus and districts"). Names are
the ones a regulator and a citizen read; codes are what the API carries.
"""

from __future__ import annotations

CITY_BUREAU = "SH"
FTZ_BUREAU = "FTZ"
PUDONG = "310115"

# Administrative division codes of Shanghai's 16 districts, with their names.
DISTRICT_NAMES: dict[str, tuple[str, str]] = {
    "310101": ("黄浦区", "Huangpu"),
    "310104": ("徐汇区", "Xuhui"),
    "310105": ("长宁区", "Changning"),
    "310106": ("静安区", "Jing'an"),
    "310107": ("普陀区", "Putuo"),
    "310109": ("虹口区", "Hongkou"),
    "310110": ("杨浦区", "Yangpu"),
    "310112": ("闵行区", "Minhang"),
    "310113": ("宝山区", "Baoshan"),
    "310114": ("嘉定区", "Jiading"),
    "310115": ("浦东新区", "Pudong New Area"),
    "310116": ("金山区", "Jinshan"),
    "310117": ("松江区", "Songjiang"),
    "310118": ("青浦区", "Qingpu"),
    "310120": ("奉贤区", "Fengxian"),
    "310151": ("崇明区", "Chongming"),
}
DISTRICTS: tuple[str, ...] = tuple(DISTRICT_NAMES)
BUREAUS: tuple[str, ...] = (CITY_BUREAU, FTZ_BUREAU, *DISTRICTS)
# "310104 Xuhui": how a validation message names the codes it allows.
DISTRICT_LABELS: tuple[str, ...] = tuple(f"{c} {en}" for c, (_, en) in DISTRICT_NAMES.items())
BUREAU_NAMES: dict[str, tuple[str, str]] = {
    CITY_BUREAU: (
        "上海市市场监督管理局",
        "Shanghai Municipal Administration for Market Regulation",
    ),
    FTZ_BUREAU: ("自贸区分局", "Free Trade Zone branch"),
    **{
        code: (f"{zh}市场监督管理局", f"{en} Administration for Market Regulation")
        for code, (zh, en) in DISTRICT_NAMES.items()
    },
}
# The places of the two bureaus that are not a district's.
PLACES_BEYOND_DISTRICTS: dict[str, tuple[str, str]] = {
    CITY_BUREAU: ("上海市", "Shanghai: the whole city"),
    FTZ_BUREAU: ("中国(上海)自由贸易试验区", "the Free Trade Zone, inside Pudong"),
}


def licensed_unit_district(holder: dict | None, bureau: str) -> str | None:
    """The district a licensed unit is in, from licensing's ``LicenceIssued``: the place its
    application gave (``holder.district``); events recorded before licensing carried it name
    only the issuing bureau, whose district it is then (the FTZ lies in Pudong; the city
    bureau, which issues most production licences, names none)."""
    district = (holder or {}).get("district")
    if district:
        return district
    if bureau == FTZ_BUREAU:
        return PUDONG
    return bureau if bureau.isdigit() else None


def place_of(code: str) -> tuple[str, str]:
    """The Chinese and English name of the place a bureau or district code stands for."""
    return DISTRICT_NAMES.get(code) or PLACES_BEYOND_DISTRICTS[code]


BUREAU_LABELS: tuple[str, ...] = (
    f"{CITY_BUREAU} the city bureau",
    f"{FTZ_BUREAU} the Free Trade Zone branch",
    *DISTRICT_LABELS,
)


def bureau_of_place(district: str | None, in_ftz: bool) -> str:
    """The bureau that supervises a place with no certificate of its own: the FTZ branch
    inside the zone, else the district's bureau (the city bureau when the district is unknown)."""
    if in_ftz:
        return FTZ_BUREAU
    return district if district in DISTRICT_NAMES else CITY_BUREAU
