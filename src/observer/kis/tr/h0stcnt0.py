"""H0STCNT0 real-time trades (KRX); H0NXCNT0 (Nextrade) and H0UNCNT0 (combined) share it.

46 fields; newer feeds append a 47th (MARKET_CLS_CODE), kept only in ``raw``.
"""

from __future__ import annotations

from observer.kis.tr import Row, TrLayout, yes_no

ROWS: tuple[Row, ...] = (
    (0, "MKSC_SHRN_ISCD", "symbol", str),
    (1, "STCK_CNTG_HOUR", "trade_time", str),
    (2, "STCK_PRPR", "price", int),
    (3, "PRDY_VRSS_SIGN", "change_sign", str),
    (4, "PRDY_VRSS", "change", int),
    (5, "PRDY_CTRT", "change_rate", float),
    (6, "WGHN_AVRG_STCK_PRC", "vwap", float),
    (7, "STCK_OPRC", "open", int),
    (8, "STCK_HGPR", "high", int),
    (9, "STCK_LWPR", "low", int),
    (10, "ASKP1", "ask1", int),
    (11, "BIDP1", "bid1", int),
    (12, "CNTG_VOL", "trade_volume", int),
    (13, "ACML_VOL", "acc_volume", int),
    (14, "ACML_TR_PBMN", "acc_value", int),
    (15, "SELN_CNTG_CSNU", "sell_count", int),
    (16, "SHNU_CNTG_CSNU", "buy_count", int),
    (17, "NTBY_CNTG_CSNU", "net_buy_count", int),
    (18, "CTTR", "strength", float),
    (19, "SELN_CNTG_SMTN", "sell_volume", int),
    (20, "SHNU_CNTG_SMTN", "buy_volume", int),
    (21, "CCLD_DVSN", "trade_side", str),
    (22, "SHNU_RATE", "buy_ratio", float),
    (23, "PRDY_VOL_VRSS_ACML_VOL_RATE", "volume_ratio_prev_day", float),
    (24, "OPRC_HOUR", "open_time", str),
    (25, "OPRC_VRSS_PRPR_SIGN", "open_vs_price_sign", str),
    (26, "OPRC_VRSS_PRPR", "open_vs_price", int),
    (27, "HGPR_HOUR", "high_time", str),
    (28, "HGPR_VRSS_PRPR_SIGN", "high_vs_price_sign", str),
    (29, "HGPR_VRSS_PRPR", "high_vs_price", int),
    (30, "LWPR_HOUR", "low_time", str),
    (31, "LWPR_VRSS_PRPR_SIGN", "low_vs_price_sign", str),
    (32, "LWPR_VRSS_PRPR", "low_vs_price", int),
    (33, "BSOP_DATE", "business_date", str),
    (34, "NEW_MKOP_CLS_CODE", "session_code", str),
    (35, "TRHT_YN", "halted", yes_no),
    (36, "ASKP_RSQN1", "ask1_size", int),
    (37, "BIDP_RSQN1", "bid1_size", int),
    (38, "TOTAL_ASKP_RSQN", "total_ask_size", int),
    (39, "TOTAL_BIDP_RSQN", "total_bid_size", int),
    (40, "VOL_TNRT", "turnover", float),
    (41, "PRDY_SMNS_HOUR_ACML_VOL", "prev_day_same_time_volume", int),
    (42, "PRDY_SMNS_HOUR_ACML_VOL_RATE", "prev_day_same_time_volume_rate", float),
    (43, "HOUR_CLS_CODE", "hour_class", str),
    (44, "MRKT_TRTM_CLS_CODE", "market_treatment_class", str),
    (45, "VI_STND_PRC", "vi_base_price", int),
)

LAYOUT = TrLayout(
    tr_ids=("H0STCNT0", "H0NXCNT0", "H0UNCNT0"),
    rows=ROWS,
    timestamp_fields=("business_date", "trade_time"),
)
