"""What the simulator sends: H0STCNT0 / H0STASP0 records and REST quote outputs, KIS-shaped.

Every value is a string as KIS sends it: integers without padding, rates with two decimals,
signs as PRDY_VRSS_SIGN codes (1 upper limit, 2 up, 3 flat, 4 lower limit, 5 down).
"""

from __future__ import annotations

from typing import Any

from observer.clock import NS_PER_S, kst_hhmmss
from observer.sim.symbol_day import SymbolDay, TradeTick
from observer.sim.tape import TapeRow

EXTRA_FIELD_VALUE = "J"  # the 47th H0STCNT0 field (MARKET_CLS_CODE) of newer feeds


def change_sign(price: int, reference: int, upper: int = 0, lower: int = 0) -> str:
    """PRDY_VRSS_SIGN of ``price`` against ``reference``."""
    if upper and price >= upper:
        return "1"
    if lower and price <= lower:
        return "4"
    if price > reference:
        return "2"
    if price < reference:
        return "5"
    return "3"


def _rate(part: float, whole: float) -> str:
    return f"{part / whole * 100:.2f}" if whole else "0.00"


def _book_size(seed: int, salt: int) -> int:
    return 100 + (seed * 7919 + salt * 104_729) % 9_900


def trade_record(state: SymbolDay, tick: TradeTick, extra_field: bool = False) -> str:
    """One H0STCNT0 record (46 fields, or 47 with the newer MARKET_CLS_CODE), joined by ^."""
    base = state.base
    change = tick.price - base
    elapsed = max(0.0, min(1.0, (tick.ns - tick.open_ns) / (23_400 * NS_PER_S)))
    prev_same_time = int(state.prev_day_volume * elapsed)
    fields = [
        state.issue.code,
        kst_hhmmss(tick.ns),
        str(tick.price),
        change_sign(tick.price, base, state.upper, state.lower),
        str(change),
        _rate(change, base),
        f"{tick.acml_value / tick.acml_vol:.2f}",
        str(tick.open),
        str(tick.high),
        str(tick.low),
        str(tick.ask1),
        str(tick.bid1),
        str(tick.volume),
        str(tick.acml_vol),
        str(tick.acml_value),
        str(tick.sell_count),
        str(tick.buy_count),
        str(tick.buy_count - tick.sell_count),
        _rate(tick.buy_vol, tick.sell_vol),
        str(tick.sell_vol),
        str(tick.buy_vol),
        "1" if tick.buy else "5",
        _rate(tick.buy_vol, tick.acml_vol),
        _rate(tick.acml_vol, state.prev_day_volume),
        kst_hhmmss(tick.open_ns),
        change_sign(tick.price, tick.open),
        str(tick.price - tick.open),
        kst_hhmmss(tick.high_ns),
        change_sign(tick.price, tick.high),
        str(tick.price - tick.high),
        kst_hhmmss(tick.low_ns),
        change_sign(tick.price, tick.low),
        str(tick.price - tick.low),
        state.day_text,
        tick.session_code,
        "N",
        str(_book_size(tick.acml_vol, 1)),
        str(_book_size(tick.acml_vol, 2)),
        str(_book_size(tick.acml_vol, 3) * 40),
        str(_book_size(tick.acml_vol, 4) * 40),
        _rate(tick.acml_vol, state.issue.listed_shares),
        str(prev_same_time),
        _rate(tick.acml_vol, prev_same_time),
        "0",
        "",
        str(tick.open),
    ]
    if extra_field:
        fields.append(EXTRA_FIELD_VALUE)
    return "^".join(fields)


def book_record(state: SymbolDay, now_ns: int) -> str:
    """One H0STASP0 record (59 fields) around the issue's current best bid and ask."""
    grid, level = state.grid, state.level
    asks = [grid.price(level + 1 + i) for i in range(10)]
    bids = [grid.price(level - i) for i in range(10)]
    ask_sizes = [_book_size(state.acml_vol + i, 5) for i in range(10)]
    bid_sizes = [_book_size(state.acml_vol + i, 6) for i in range(10)]
    fields = [state.issue.code, kst_hhmmss(now_ns), "0"]
    fields += [str(p) for p in asks] + [str(p) for p in bids]
    fields += [str(s) for s in ask_sizes] + [str(s) for s in bid_sizes]
    fields += [str(sum(ask_sizes)), str(sum(bid_sizes)), "0", "0"]
    fields += ["0", "0", "0", "0", "3", "0.00", str(state.acml_vol), "0", "0", "0", "0", "0"]
    return "^".join(fields)


def data_frame(tr_id: str, records: list[str]) -> str:
    """``0|tr_id|count|payload``: several records of one TR in one text frame."""
    return f"0|{tr_id}|{len(records):03d}|{'^'.join(records)}"


def _common_quote(state: SymbolDay) -> dict[str, Any]:
    return {
        "change": state.price - state.base,
        "sign": change_sign(state.price, state.base, state.upper, state.lower),
        "rate": _rate(state.price - state.base, state.base),
    }


# FHKST01010100 ``output``: the complete field set as published (KIS_PROTOCOL.md, "Quotes").
PRICE_FIELDS = (
    "iscd_stat_cls_code marg_rate rprs_mrkt_kor_name new_hgpr_lwpr_cls_code bstp_kor_isnm "
    "temp_stop_yn oprc_rang_cont_yn clpr_rang_cont_yn crdt_able_yn grmn_rate_cls_code elw_pblc_yn "
    "stck_prpr prdy_vrss prdy_vrss_sign prdy_ctrt acml_tr_pbmn acml_vol prdy_vrss_vol_rate "
    "stck_oprc stck_hgpr stck_lwpr stck_mxpr stck_llam stck_sdpr wghn_avrg_stck_prc hts_frgn_ehrt "
    "frgn_ntby_qty pgtr_ntby_qty pvt_scnd_dmrs_prc pvt_frst_dmrs_prc pvt_pont_val "
    "pvt_frst_dmsp_prc pvt_scnd_dmsp_prc dmrs_val dmsp_val cpfn rstc_wdth_prc stck_fcam stck_sspr "
    "aspr_unit hts_deal_qty_unit_val lstn_stcn hts_avls per pbr stac_month vol_tnrt eps bps "
    "d250_hgpr d250_hgpr_date d250_hgpr_vrss_prpr_rate d250_lwpr d250_lwpr_date "
    "d250_lwpr_vrss_prpr_rate stck_dryy_hgpr dryy_hgpr_vrss_prpr_rate dryy_hgpr_date "
    "stck_dryy_lwpr dryy_lwpr_vrss_prpr_rate dryy_lwpr_date w52_hgpr w52_hgpr_vrss_prpr_ctrt "
    "w52_hgpr_date w52_lwpr w52_lwpr_vrss_prpr_ctrt w52_lwpr_date whol_loan_rmnd_rate ssts_yn "
    "stck_shrn_iscd fcam_cnnm cpfn_cnnm apprch_rate frgn_hldn_qty vi_cls_code ovtm_vi_cls_code "
    "last_ssts_cntg_qty invt_caful_yn mrkt_warn_cls_code short_over_yn sltr_yn mang_issu_cls_code"
).split()


def _blank(name: str, day: str) -> str:
    """A neutral value for a published field the synthetic market does not model."""
    if name.endswith("_yn"):
        return "N"
    if name.endswith("_date"):
        return day  # a real date (the synthetic highs and lows are today's)
    return "0"


def price_output(state: SymbolDay) -> dict[str, str]:
    """The ``output`` of inquire-price (FHKST01010100): every published field, no other."""
    issue = state.issue
    common = _common_quote(state)
    vwap = f"{state.acml_value / state.acml_vol:.2f}" if state.acml_vol else str(state.base)
    year_high = max(state.high, state.base * 6 // 5)
    year_low = min(state.low or state.base, state.base * 4 // 5)
    known = {
        "iscd_stat_cls_code": "58" if issue.halted else "55",
        "rprs_mrkt_kor_name": issue.market,
        "bstp_kor_isnm": "",
        "temp_stop_yn": "Y" if issue.halted else "N",
        "crdt_able_yn": "Y",
        "stck_prpr": str(state.price),
        "prdy_vrss": str(common["change"]),
        "prdy_vrss_sign": common["sign"],
        "prdy_ctrt": common["rate"],
        "acml_tr_pbmn": str(state.acml_value),
        "acml_vol": str(state.acml_vol),
        "prdy_vrss_vol_rate": _rate(state.acml_vol, state.prev_day_volume),
        "stck_oprc": str(state.open),
        "stck_hgpr": str(state.high),
        "stck_lwpr": str(state.low),
        "stck_mxpr": str(state.upper),
        "stck_llam": str(state.lower),
        "stck_sdpr": str(state.base),
        "wghn_avrg_stck_prc": vwap,
        "stck_fcam": "100",
        "aspr_unit": str(state.tick),
        "hts_deal_qty_unit_val": "1",
        "lstn_stcn": str(issue.listed_shares),
        "hts_avls": str(state.price * issue.listed_shares // 100_000_000),
        "stac_month": "12",
        "vol_tnrt": _rate(state.acml_vol, issue.listed_shares),
        "d250_hgpr": str(year_high),
        "d250_lwpr": str(year_low),
        "stck_dryy_hgpr": str(year_high),
        "stck_dryy_lwpr": str(year_low),
        "w52_hgpr": str(year_high),
        "w52_lwpr": str(year_low),
        "stck_shrn_iscd": issue.code,
        "vi_cls_code": "N",
        "ovtm_vi_cls_code": "N",
        "mrkt_warn_cls_code": issue.warning_code,
        "mang_issu_cls_code": "Y" if issue.administrative else "N",
    }
    return {name: known.get(name, _blank(name, state.day_text)) for name in PRICE_FIELDS}


def multi_price_item(state: SymbolDay) -> dict[str, str]:
    """One element of the ``output`` list of intstock-multprice (FHKST11300006)."""
    issue = state.issue
    common = _common_quote(state)
    return {
        "kospi_kosdaq_cls_name": issue.market,
        "mrkt_trtm_cls_name": "",
        "hour_cls_code": "0",
        "inter_shrn_iscd": issue.code,
        "inter_kor_isnm": issue.name,
        "inter2_prpr": str(state.price),
        "inter2_prdy_vrss": str(common["change"]),
        "prdy_vrss_sign": common["sign"],
        "prdy_ctrt": common["rate"],
        "acml_vol": str(state.acml_vol),
        "inter2_oprc": str(state.open),
        "inter2_hgpr": str(state.high),
        "inter2_lwpr": str(state.low),
        "inter2_llam": str(state.lower),
        "inter2_mxpr": str(state.upper),
        "inter2_askp": str(state.ask1),
        "inter2_bidp": str(state.bid1),
        "seln_rsqn": str(_book_size(state.acml_vol, 1)),
        "shnu_rsqn": str(_book_size(state.acml_vol, 2)),
        "total_askp_rsqn": str(_book_size(state.acml_vol, 3) * 40),
        "total_bidp_rsqn": str(_book_size(state.acml_vol, 4) * 40),
        "acml_tr_pbmn": str(state.acml_value),
        "inter2_prdy_clpr": str(state.base),
        "oprc_vrss_hgpr_rate": _rate(state.high - state.open, state.open),
        "intr_antc_cntg_vrss": "0",
        "intr_antc_cntg_vrss_sign": "3",
        "intr_antc_cntg_prdy_ctrt": "0.00",
        "intr_antc_vol": "0",
        "inter2_sdpr": str(state.base),
    }


def time_sales_summary(state: SymbolDay) -> dict[str, str]:
    """``output1`` of inquire-time-itemconclusion (FHPST01060000): the price summary."""
    common = _common_quote(state)
    return {
        "stck_prpr": str(state.price),
        "prdy_vrss": str(common["change"]),
        "prdy_vrss_sign": common["sign"],
        "prdy_ctrt": common["rate"],
        "acml_vol": str(state.acml_vol),
        "prdy_vol": str(state.prev_day_volume),
        "rprs_mrkt_kor_name": state.issue.market,
    }


def time_sales_row(state: SymbolDay, row: TapeRow) -> dict[str, str]:
    """One ``output2`` trade of FHPST01060000 (its price is ``stck_pbpr``, not ``stck_prpr``)."""
    change = row.price - state.base
    return {
        "stck_cntg_hour": kst_hhmmss(row.ns),
        "stck_pbpr": str(row.price),
        "prdy_vrss": str(change),
        "prdy_vrss_sign": change_sign(row.price, state.base, state.upper, state.lower),
        "prdy_ctrt": _rate(change, state.base),
        "askp": str(row.ask),
        "bidp": str(row.bid),
        "tday_rltv": _rate(row.buy_vol, row.sell_vol),
        "acml_vol": str(row.acml_vol),
        "cnqn": str(row.volume),
    }


def daily_item(state: SymbolDay) -> dict[str, str]:
    """One element of the ``output`` list of inquire-daily-price (FHKST01010400)."""
    common = _common_quote(state)
    return {
        "stck_bsop_date": state.day.strftime("%Y%m%d"),
        "stck_oprc": str(state.open),
        "stck_hgpr": str(state.high),
        "stck_lwpr": str(state.low),
        "stck_clpr": str(state.price),
        "acml_vol": str(state.acml_vol),
        "prdy_vrss_vol_rate": _rate(state.acml_vol, state.prev_day_volume),
        "prdy_vrss": str(common["change"]),
        "prdy_vrss_sign": common["sign"],
        "prdy_ctrt": common["rate"],
        "flng_cls_code": "00",
    }
