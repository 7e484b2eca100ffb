/*
 * observer.store._tickcopy: an archived trade line -> PostgreSQL binary COPY rows.
 *
 * The loader's hot path. ``encode_lines()`` reads archive lines of scalp trade records
 * (H0STCNT0 and its NXT/combined siblings) straight from its JSON text, without building Python
 * objects, and appends two rows: the ``ticks`` row in the column order of
 * ``rows.TICK_COLUMNS`` (typed: date, timestamptz, int8, int4, float8, ...) and the
 * ``rows.BAR_TICK_COLUMNS`` row the one-minute bars are built from (by the bar SQL, the one
 * bar rule). The row header is fixed here and published as ``HEADER`` (checked against
 * ``rows.TICK_HEADER`` before use); the data fields come from ``configure()``, which the Python
 * side calls with ``rows.TICK_FIELDS``, derived from the TR table in ``kis/tr/h0stcnt0.py``.
 *
 * It takes only the shape the service writes: ASCII strings without escapes, integers that fit
 * int64, finite numbers, the batch's business date, timestamps as "YYYY-MM-DDTHH:MM:SS[.f]+HH:MM".
 * For anything else (another stream or TR, a missing or mistyped field, an escape, a duplicate
 * key, text that is not JSON) it appends nothing and returns None; the caller then parses the
 * line with orjson and takes the general path (``rows.tick_row`` into a text staging table cast
 * by the server), which decides what the line is and produces the same row for it.
 * ``tests/store/test_tickcopy.py`` loads records both ways and compares the tables.
 *
 * Binary COPY field layout: int32 length (-1 for NULL) then the value in network byte order;
 * a row starts with the int16 field count. Dates count days and timestamps microseconds from
 * 2000-01-01 (UTC).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <locale.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PG_EPOCH_DAYS 10957                       /* 2000-01-01 - 1970-01-01 */
#define PG_EPOCH_US INT64_C(946684800000000)      /* the same, in microseconds */
#define RECV_NS_MAX (INT64_C(1) << 62)

/* Field kinds of the data columns, as rows.py declares them. */
enum { K_TEXT = 't', K_INT8 = 'q', K_INT4 = 'i', K_FLOAT8 = 'd', K_BOOL = '?' };

typedef struct {
    char *data;
    Py_ssize_t len, cap;
} Buf;

/* Reused between calls, one pair per thread: encoding runs without the GIL. */
static _Thread_local Buf scratch_row, scratch_bar;
static locale_t c_locale; /* numbers are read the JSON way whatever the process locale */

static int buf_reserve(Buf *b, Py_ssize_t extra) {
    if (b->len + extra <= b->cap) return 0;
    Py_ssize_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra) cap *= 2;
    char *grown = PyMem_RawRealloc(b->data, (size_t)cap); /* no GIL needed */
    if (grown == NULL) return -1;
    b->data = grown;
    b->cap = cap;
    return 0;
}

static void put16(char *p, uint16_t v) {
    p[0] = (char)(v >> 8);
    p[1] = (char)v;
}

static void put32(char *p, uint32_t v) {
    p[0] = (char)(v >> 24);
    p[1] = (char)(v >> 16);
    p[2] = (char)(v >> 8);
    p[3] = (char)v;
}

static void put64(char *p, uint64_t v) {
    put32(p, (uint32_t)(v >> 32));
    put32(p + 4, (uint32_t)v);
}

static int add_null(Buf *b) {
    if (buf_reserve(b, 4) < 0) return -1;
    put32(b->data + b->len, UINT32_MAX);
    b->len += 4;
    return 0;
}

static int add_int8(Buf *b, int64_t v) {
    if (buf_reserve(b, 12) < 0) return -1;
    put32(b->data + b->len, 8);
    put64(b->data + b->len + 4, (uint64_t)v);
    b->len += 12;
    return 0;
}

static int add_int2(Buf *b, int16_t v) {
    if (buf_reserve(b, 6) < 0) return -1;
    put32(b->data + b->len, 2);
    put16(b->data + b->len + 4, (uint16_t)v);
    b->len += 6;
    return 0;
}

static int add_int4_value(Buf *b, int32_t v) { /* an int4, or a date: days since 2000-01-01 */
    if (buf_reserve(b, 8) < 0) return -1;
    put32(b->data + b->len, 4);
    put32(b->data + b->len + 4, (uint32_t)v);
    b->len += 8;
    return 0;
}

static int add_float8(Buf *b, double v) {
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    return add_int8(b, (int64_t)bits);
}

static int add_bool(Buf *b, int v) {
    if (buf_reserve(b, 5) < 0) return -1;
    put32(b->data + b->len, 1);
    b->data[b->len + 4] = (char)(v ? 1 : 0);
    b->len += 5;
    return 0;
}

static int add_bytes(Buf *b, const char *s, Py_ssize_t n) {
    if (n > INT32_MAX - 64 || buf_reserve(b, 4 + n) < 0) return -1;
    put32(b->data + b->len, (uint32_t)n);
    memcpy(b->data + b->len + 4, s, (size_t)n);
    b->len += 4 + n;
    return 0;
}

/* Days from 1970-01-01 of a proleptic Gregorian date (the usual era-based formula). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const int64_t yoe = y - era * 400;
    const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int digits(const char *s, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

/* "YYYY-MM-DDTHH:MM:SS[.f{1,6}]+HH:MM" -> microseconds since 2000-01-01 UTC; 0 if not that. */
static int parse_iso(const char *s, Py_ssize_t n, int64_t *out) {
    int y, mo, d, h, mi, sec, oh, om, frac = 0;
    if (n < 25 || n > 32) return 0;
    if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
        !digits(s + 8, 2, &d) || s[10] != 'T' || !digits(s + 11, 2, &h) || s[13] != ':' ||
        !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &sec))
        return 0;
    Py_ssize_t i = 19;
    if (s[i] == '.') {
        int places = 0;
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            if (++places > 6) return 0;
            frac = frac * 10 + (s[i] - '0');
            i++;
        }
        if (places == 0) return 0;
        for (; places < 6; places++) frac *= 10;
    }
    if (n - i != 6 || (s[i] != '+' && s[i] != '-') || !digits(s + i + 1, 2, &oh) ||
        s[i + 3] != ':' || !digits(s + i + 4, 2, &om))
        return 0;
    static const int month_days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > month_days[mo - 1] ||
        (mo == 2 && d == 29 && !leap) || h > 23 || mi > 59 || sec > 59 || oh > 15 || om > 59)
        return 0;
    int64_t offset = (int64_t)oh * 3600 + om * 60;
    if (s[i] == '-') offset = -offset;
    int64_t seconds = (days_from_civil(y, mo, d) - PG_EPOCH_DAYS) * 86400 + (int64_t)h * 3600 +
                      mi * 60 + sec - offset;
    *out = seconds * 1000000 + frac;
    return 1;
}

static int add_ts_or_null(Buf *b, int has_ts, int64_t ts) {
    return has_ts ? add_int8(b, ts) : add_null(b);
}

/* ---- JSON scanning ---------------------------------------------------------------------- */

/* What a JSON value was: nothing (key absent), null, an int64, a finite double, an ASCII
 * string without escapes, a bool, an array or object (kept as its text span). */
enum { V_ABSENT = 0, V_NULL, V_INT, V_FLOAT, V_STR, V_BOOL, V_ARRAY, V_OBJECT };

typedef struct {
    int kind;
    int64_t i; /* V_INT, V_BOOL */
    double f;  /* V_FLOAT */
    const char *s;
    Py_ssize_t len; /* V_STR: the characters; V_ARRAY/V_OBJECT: the whole span */
} Value;

typedef struct {
    const char *p, *end;
} Scan;

#define MAX_DEPTH 32

static void skip_ws(Scan *sc) {
    while (sc->p < sc->end && (*sc->p == ' ' || *sc->p == '\t' || *sc->p == '\n' || *sc->p == '\r'))
        sc->p++;
}

/* At '"': a string of printable ASCII without escapes (anything else: 0, not ours). */
static int scan_string(Scan *sc, const char **out, Py_ssize_t *len) {
    const char *start = ++sc->p;
    while (sc->p < sc->end) {
        unsigned char c = (unsigned char)*sc->p;
        if (c == '"') {
            *out = start;
            *len = sc->p - start;
            sc->p++;
            return 1;
        }
        if (c == '\\' || c < 0x20 || c >= 0x80) return 0;
        sc->p++;
    }
    return 0;
}

/* A JSON number: an int64 when it has no fraction or exponent, else a finite double. */
static int scan_number(Scan *sc, Value *v) {
    const char *start = sc->p, *q = sc->p;
    int negative = 0, is_float = 0;
    if (q < sc->end && *q == '-') {
        negative = 1;
        q++;
    }
    if (q >= sc->end || *q < '0' || *q > '9') return 0;
    if (*q == '0') {
        q++;
    } else {
        while (q < sc->end && *q >= '0' && *q <= '9') q++;
    }
    const char *int_end = q;
    if (q < sc->end && *q == '.') {
        is_float = 1;
        q++;
        if (q >= sc->end || *q < '0' || *q > '9') return 0;
        while (q < sc->end && *q >= '0' && *q <= '9') q++;
    }
    if (q < sc->end && (*q == 'e' || *q == 'E')) {
        is_float = 1;
        q++;
        if (q < sc->end && (*q == '+' || *q == '-')) q++;
        if (q >= sc->end || *q < '0' || *q > '9') return 0;
        while (q < sc->end && *q >= '0' && *q <= '9') q++;
    }
    if (!is_float) {
        uint64_t magnitude = 0;
        for (const char *d = start + negative; d < int_end; d++) {
            uint64_t digit = (uint64_t)(*d - '0');
            if (magnitude > (UINT64_MAX - digit) / 10) return 0;
            magnitude = magnitude * 10 + digit;
        }
        if (negative ? magnitude > (uint64_t)INT64_MAX + 1 : magnitude > (uint64_t)INT64_MAX)
            return 0;
        v->kind = V_INT;
        v->i = negative ? (int64_t)(0 - magnitude) : (int64_t)magnitude;
    } else {
        char text[64];
        if (q - start >= (Py_ssize_t)sizeof text) return 0;
        memcpy(text, start, (size_t)(q - start));
        text[q - start] = '\0';
        char *stop;
        double d = strtod_l(text, &stop, c_locale);
        if (stop != text + (q - start) || !Py_IS_FINITE(d)) return 0;
        v->kind = V_FLOAT;
        v->f = d;
    }
    sc->p = q;
    return 1;
}

static int scan_value(Scan *sc, Value *v, int depth);

/* At '[' or '{': check the nested value is well-formed and step over it. */
static int scan_nested(Scan *sc, int depth) {
    char close = *sc->p == '[' ? ']' : '}';
    int object = close == '}';
    if (depth > MAX_DEPTH) return 0;
    sc->p++;
    skip_ws(sc);
    if (sc->p < sc->end && *sc->p == close) {
        sc->p++;
        return 1;
    }
    for (;;) {
        Value item;
        skip_ws(sc);
        if (object) {
            const char *key;
            Py_ssize_t key_len;
            if (sc->p >= sc->end || *sc->p != '"' || !scan_string(sc, &key, &key_len)) return 0;
            skip_ws(sc);
            if (sc->p >= sc->end || *sc->p != ':') return 0;
            sc->p++;
            skip_ws(sc);
        }
        if (!scan_value(sc, &item, depth + 1)) return 0;
        skip_ws(sc);
        if (sc->p >= sc->end) return 0;
        if (*sc->p == ',') {
            sc->p++;
            continue;
        }
        if (*sc->p != close) return 0;
        sc->p++;
        return 1;
    }
}

static int scan_literal(Scan *sc, const char *word, Py_ssize_t n) {
    if (sc->end - sc->p < n || memcmp(sc->p, word, (size_t)n) != 0) return 0;
    sc->p += n;
    return 1;
}

static int scan_value(Scan *sc, Value *v, int depth) {
    if (sc->p >= sc->end) return 0;
    switch (*sc->p) {
    case '"':
        v->kind = V_STR;
        return scan_string(sc, &v->s, &v->len);
    case '{':
    case '[': {
        const char *start = sc->p;
        v->kind = *sc->p == '{' ? V_OBJECT : V_ARRAY;
        if (!scan_nested(sc, depth)) return 0;
        v->s = start;
        v->len = sc->p - start;
        return 1;
    }
    case 't':
        v->kind = V_BOOL;
        v->i = 1;
        return scan_literal(sc, "true", 4);
    case 'f':
        v->kind = V_BOOL;
        v->i = 0;
        return scan_literal(sc, "false", 5);
    case 'n':
        v->kind = V_NULL;
        return scan_literal(sc, "null", 4);
    default:
        return scan_number(sc, v);
    }
}

/* Record keys: what tick_row reads at the top level, and in "data". */
enum { R_V, R_STREAM, R_SEQ, R_RECV_NS, R_SOURCE, R_TR_ID, R_SYMBOL, R_DATA, R_FLAGS,
       R_MITIGATION, R_SESSION_ID, R_COUNT };
static const char *const record_keys[R_COUNT] = {
    "v", "stream", "seq", "recv_ns", "source", "tr_id", "symbol", "data", "flags",
    "mitigation", "session_id",
};
/* The row header this file writes, in order (name, PostgreSQL type): HEADER in the module. */
static const char *const header_columns[][2] = {
    {"symbol", "text"}, {"business_date", "date"}, {"trade_ts", "timestamptz"},
    {"recv_ts", "timestamptz"}, {"seq", "bigint"}, {"tr_id", "text"}, {"source", "text"},
    {"schema_version", "smallint"}, {"session_id", "text"}, {"mitigation_level", "smallint"},
    {"flags", "text[]"},
};
#define HEADER_COUNT ((int)(sizeof header_columns / sizeof header_columns[0]))
static Py_ssize_t record_key_lens[R_COUNT];

#define MAX_FIELDS 96
/* The data keys: the typed fields (configure()) then these two. */
static Py_ssize_t nfields;
static char field_kinds[MAX_FIELDS];
static char *field_names[MAX_FIELDS + 2];
static Py_ssize_t field_lens[MAX_FIELDS + 2];
static Py_ssize_t f_price = -1, f_trade_volume = -1, f_acc_volume = -1, f_session = -1,
                  f_session_code = -1, f_business_date = -1, f_trade_ts = -1;
static char tr_ids[8][16];
static Py_ssize_t tr_id_lens[8];
static int n_tr_ids;

static Py_ssize_t find_key(const char *const *names, const Py_ssize_t *lens, Py_ssize_t n,
                           Py_ssize_t guess, const char *key, Py_ssize_t len) {
    if (guess < n && lens[guess] == len && memcmp(names[guess], key, (size_t)len) == 0) return guess;
    for (Py_ssize_t i = 0; i < n; i++)
        if (lens[i] == len && memcmp(names[i], key, (size_t)len) == 0) return i;
    return -1;
}

/* Parse an object into slots[index of key]; unknown keys are checked and skipped; a repeated
 * known key is not ours (orjson would keep the last one). */
static int scan_object(Scan *sc, const char *const *names, const Py_ssize_t *lens, Py_ssize_t n,
                       Value *slots, Value *data_slots) {
    skip_ws(sc);
    if (sc->p >= sc->end || *sc->p != '{') return 0;
    sc->p++;
    skip_ws(sc);
    if (sc->p < sc->end && *sc->p == '}') {
        sc->p++;
        return 1;
    }
    Py_ssize_t guess = 0;
    for (;;) {
        const char *key;
        Py_ssize_t key_len;
        skip_ws(sc);
        if (sc->p >= sc->end || *sc->p != '"' || !scan_string(sc, &key, &key_len)) return 0;
        skip_ws(sc);
        if (sc->p >= sc->end || *sc->p != ':') return 0;
        sc->p++;
        skip_ws(sc);
        Py_ssize_t at = find_key(names, lens, n, guess, key, key_len);
        if (at >= 0) {
            if (slots[at].kind != V_ABSENT) return 0;
            guess = at + 1;
            if (data_slots != NULL && at == R_DATA && sc->p < sc->end && *sc->p == '{') {
                const char *start = sc->p;
                if (!scan_object(sc, (const char *const *)field_names, field_lens, nfields + 2,
                                 data_slots, NULL))
                    return 0;
                slots[at].kind = V_OBJECT;
                slots[at].s = start;
                slots[at].len = sc->p - start;
            } else if (!scan_value(sc, &slots[at], 1)) {
                return 0;
            }
        } else {
            Value ignored;
            if (!scan_value(sc, &ignored, 1)) return 0;
        }
        skip_ws(sc);
        if (sc->p >= sc->end) return 0;
        if (*sc->p == ',') {
            sc->p++;
            continue;
        }
        if (*sc->p != '}') return 0;
        sc->p++;
        return 1;
    }
}

/* ---- encoding --------------------------------------------------------------------------- */

static int is_text(const Value *v) { return v->kind == V_STR; }
static int is_missing(const Value *v) { return v->kind == V_ABSENT || v->kind == V_NULL; }
static int is_blank(const Value *v) { return is_missing(v) || (is_text(v) && v->len == 0); }

/* flags: absent/null -> the empty text[]; an array of strings; anything else is not ours.
 * Returns 1, 0 (not ours) or -1 (error); *count gets the number of flags. */
static int add_flags(Buf *b, const Value *flags, Py_ssize_t *count) {
    *count = 0;
    if (is_missing(flags)) {
        if (buf_reserve(b, 16) < 0) return -1;
        put32(b->data + b->len, 12);
        put32(b->data + b->len + 4, 0);   /* ndim 0: the empty array */
        put32(b->data + b->len + 8, 0);   /* no NULLs */
        put32(b->data + b->len + 12, 25); /* element type: text */
        b->len += 16;
        return 1;
    }
    if (flags->kind != V_ARRAY) return 0;
    Py_ssize_t total = 20, n = 0;
    Scan sc = {flags->s + 1, flags->s + flags->len - 1};
    for (int pass = 0; pass < 2; pass++) {
        char *p = NULL;
        if (pass == 1) {
            if (n == 0) return add_flags(b, &(Value){.kind = V_NULL}, count);
            if (total > INT32_MAX || buf_reserve(b, 4 + total) < 0) return -1;
            p = b->data + b->len;
            put32(p, (uint32_t)total);
            put32(p + 4, 1);
            put32(p + 8, 0);
            put32(p + 12, 25);
            put32(p + 16, (uint32_t)n);
            put32(p + 20, 1); /* lower bound */
            p += 24;
            sc.p = flags->s + 1;
        }
        for (;;) {
            skip_ws(&sc);
            if (sc.p >= sc.end) break;
            const char *s;
            Py_ssize_t len;
            if (*sc.p != '"' || !scan_string(&sc, &s, &len)) return 0;
            if (pass == 0) {
                n++;
                total += 4 + len;
            } else {
                put32(p, (uint32_t)len);
                memcpy(p + 4, s, (size_t)len);
                p += 4 + len;
            }
            skip_ws(&sc);
            if (sc.p < sc.end && *sc.p == ',') sc.p++;
        }
    }
    b->len += 4 + total;
    *count = n;
    return 1;
}

#define NOT_OURS 0
#define FAIL (-1)
#define CHECK(expr)                                                                              \
    do {                                                                                         \
        if ((expr) < 0) return FAIL;                                                             \
    } while (0)

static int add_int8_or_null(Buf *b, const Value *v) { /* caller checked: int or missing */
    return is_missing(v) ? add_null(b) : add_int8(b, v->i);
}

/* Encode into the scratch buffers: 1 done, 0 not ours, -1 error set. */
static int encode(const char *line, Py_ssize_t n, const char *day, Py_ssize_t day_len,
                  int32_t day_value, int64_t *seq_out, int *has_seq, int64_t *recv_ns_out) {
    Value rec[R_COUNT] = {{0}};
    Value data[MAX_FIELDS + 2] = {{0}};
    Scan sc = {line, line + n};
    if (!scan_object(&sc, record_keys, record_key_lens, R_COUNT, rec, data))
        return NOT_OURS;
    skip_ws(&sc);
    if (sc.p != sc.end) return NOT_OURS;

    /* A trade record of the scalp stream, with the batch's business date. */
    const Value *stream = &rec[R_STREAM], *tr_id = &rec[R_TR_ID];
    if (!is_text(stream) || stream->len != 5 || memcmp(stream->s, "scalp", 5) != 0) return NOT_OURS;
    if (!is_text(tr_id)) return NOT_OURS;
    int known_tr = 0;
    for (int i = 0; i < n_tr_ids && !known_tr; i++)
        known_tr = tr_id_lens[i] == tr_id->len && memcmp(tr_ids[i], tr_id->s, (size_t)tr_id->len) == 0;
    if (!known_tr || rec[R_DATA].kind != V_OBJECT) return NOT_OURS;
    const Value *business_date = &data[f_business_date];
    if (!is_text(business_date) || business_date->len != day_len ||
        memcmp(business_date->s, day, (size_t)day_len) != 0)
        return NOT_OURS;

    /* The row header, checked the way rows.tick_row and rows.conforms see it. */
    const Value *symbol = &rec[R_SYMBOL], *source = &rec[R_SOURCE], *recv = &rec[R_RECV_NS];
    const Value *seq = &rec[R_SEQ], *version = &rec[R_V], *sid = &rec[R_SESSION_ID];
    const Value *mitigation = &rec[R_MITIGATION];
    if (!is_text(symbol) || !is_text(source) || recv->kind != V_INT || recv->i < 0 ||
        recv->i >= RECV_NS_MAX)
        return NOT_OURS;
    if (!is_missing(seq) && seq->kind != V_INT) return NOT_OURS;
    if (version->kind != V_ABSENT &&
        (version->kind != V_INT || version->i < INT16_MIN || version->i > INT16_MAX))
        return NOT_OURS;
    if (mitigation->kind != V_ABSENT &&
        (mitigation->kind != V_INT || mitigation->i < INT16_MIN || mitigation->i > INT16_MAX))
        return NOT_OURS;
    int has_ts = 0;
    int64_t ts = 0;
    const Value *trade_ts = &data[f_trade_ts];
    if (!is_missing(trade_ts)) {
        if (!is_text(trade_ts) || !parse_iso(trade_ts->s, trade_ts->len, &ts)) return NOT_OURS;
        has_ts = 1;
    }
    /* session_id: the record's, else "<day>_<session or session_code>", else the day. */
    const Value *session = NULL;
    if (!is_blank(sid)) {
        if (!is_text(sid)) return NOT_OURS;
    } else {
        const Value *s1 = &data[f_session], *s2 = &data[f_session_code];
        if (!is_blank(s1)) {
            if (!is_text(s1)) return NOT_OURS;
            session = s1;
        } else if (!is_blank(s2)) {
            if (!is_text(s2)) return NOT_OURS;
            session = s2;
        }
    }
    /* The typed fields must have their column's type (or be null / absent). */
    for (Py_ssize_t i = 0; i < nfields; i++) {
        const Value *v = &data[i];
        if (is_missing(v)) continue;
        switch (field_kinds[i]) {
        case K_TEXT:
            if (!is_text(v)) return NOT_OURS;
            break;
        case K_INT8:
            if (v->kind != V_INT) return NOT_OURS;
            break;
        case K_INT4:
            if (v->kind != V_INT || v->i < INT32_MIN || v->i > INT32_MAX) return NOT_OURS;
            break;
        case K_FLOAT8:
            if (v->kind != V_FLOAT && v->kind != V_INT) return NOT_OURS;
            break;
        case K_BOOL:
            if (v->kind != V_BOOL) return NOT_OURS;
            break;
        default:
            return NOT_OURS;
        }
    }
    if (is_missing(&data[f_acc_volume])) return NOT_OURS; /* part of the unique key */

    Buf *row = &scratch_row, *bar = &scratch_bar;
    row->len = bar->len = 0;
    int64_t recv_ts = recv->i / 1000 - PG_EPOCH_US;
    CHECK(buf_reserve(row, 2));
    put16(row->data, (uint16_t)(HEADER_COUNT + nfields));
    row->len = 2;
    CHECK(add_bytes(row, symbol->s, symbol->len));
    CHECK(add_int4_value(row, day_value));
    CHECK(add_ts_or_null(row, has_ts, ts));
    CHECK(add_int8(row, recv_ts));
    CHECK(add_int8_or_null(row, seq));
    CHECK(add_bytes(row, tr_id->s, tr_id->len));
    CHECK(add_bytes(row, source->s, source->len));
    CHECK(add_int2(row, version->kind == V_INT ? (int16_t)version->i : 1));
    Py_ssize_t session_id_at = row->len;
    if (session == NULL && !is_blank(sid)) {
        CHECK(add_bytes(row, sid->s, sid->len));
    } else {
        Py_ssize_t total = day_len + (session ? 1 + session->len : 0);
        CHECK(buf_reserve(row, 4 + total));
        char *p = row->data + row->len;
        put32(p, (uint32_t)total);
        memcpy(p + 4, day, (size_t)day_len);
        if (session) {
            p[4 + day_len] = '_';
            memcpy(p + 5 + day_len, session->s, (size_t)session->len);
        }
        row->len += 4 + total;
    }
    Py_ssize_t session_id_end = row->len;
    /* mitigation_level comes before flags in the row but defaults from them: leave room. */
    Py_ssize_t mitigation_at = row->len;
    CHECK(buf_reserve(row, 6));
    row->len += 6;
    Py_ssize_t nflags;
    int got = add_flags(row, &rec[R_FLAGS], &nflags);
    if (got <= 0) return got;
    int64_t level = mitigation->kind == V_INT ? mitigation->i : (nflags > 0 ? 1 : 0);
    put32(row->data + mitigation_at, 2);
    put16(row->data + mitigation_at + 4, (uint16_t)(int16_t)level);
    for (Py_ssize_t i = 0; i < nfields; i++) {
        const Value *v = &data[i];
        if (is_missing(v)) {
            CHECK(add_null(row));
            continue;
        }
        switch (field_kinds[i]) {
        case K_TEXT:
            CHECK(add_bytes(row, v->s, v->len));
            break;
        case K_INT8:
            CHECK(add_int8(row, v->i));
            break;
        case K_INT4:
            CHECK(add_int4_value(row, (int32_t)v->i));
            break;
        case K_FLOAT8:
            CHECK(add_float8(row, v->kind == V_FLOAT ? v->f : (double)v->i));
            break;
        default: /* K_BOOL */
            CHECK(add_bool(row, (int)v->i));
            break;
        }
    }

    /* The bar row: symbol, business_date, trade_ts, recv_ts, price, trade_volume, acc_volume,
     * flagged, session_id. */
    CHECK(buf_reserve(bar, 2));
    put16(bar->data, 9);
    bar->len = 2;
    CHECK(add_bytes(bar, symbol->s, symbol->len));
    CHECK(add_int4_value(bar, day_value));
    CHECK(add_ts_or_null(bar, has_ts, ts));
    CHECK(add_int8(bar, recv_ts));
    CHECK(add_int8_or_null(bar, &data[f_price]));
    CHECK(add_int8_or_null(bar, &data[f_trade_volume]));
    CHECK(add_int8(bar, data[f_acc_volume].i));
    CHECK(add_bool(bar, nflags > 0));
    Py_ssize_t sid_len = session_id_end - session_id_at;
    CHECK(buf_reserve(bar, sid_len));
    memcpy(bar->data + bar->len, row->data + session_id_at, (size_t)sid_len);
    bar->len += sid_len;
    *has_seq = seq->kind == V_INT;
    *seq_out = seq->i;
    *recv_ns_out = recv->i;
    return 1;
}

/* ---- module ----------------------------------------------------------------------------- */

PyDoc_STRVAR(configure_doc,
             "configure(fields, tr_ids)\n\n"
             "Declare the data fields as (name, kind) pairs, kind one of 't' text, 'q' int8,\n"
             "'i' int4, 'd' float8, '?' bool (the rows.TICK_FIELDS order), and the trade TR ids.\n"
             "Nothing changes unless every argument is valid; once a layout is set, calling\n"
             "again with the same layout is a no-op and another layout is refused.");

/* The layout being checked: nothing global changes until all of it is valid. */
typedef struct {
    Py_ssize_t n;
    char kinds[MAX_FIELDS];
    char names[MAX_FIELDS + 2][64];
    Py_ssize_t lens[MAX_FIELDS + 2];
    char trs[8][16];
    int ntrs;
} Layout;

static int same_layout(const Layout *l) {
    if (l->n != nfields || l->ntrs != n_tr_ids) return 0;
    for (Py_ssize_t i = 0; i < l->n; i++)
        if (l->kinds[i] != field_kinds[i] || l->lens[i] != field_lens[i] ||
            memcmp(l->names[i], field_names[i], (size_t)l->lens[i]) != 0)
            return 0;
    for (int i = 0; i < l->ntrs; i++)
        if (strcmp(l->trs[i], tr_ids[i]) != 0) return 0;
    return 1;
}

static Py_ssize_t layout_index(const Layout *l, const char *word) {
    for (Py_ssize_t i = 0; i < l->n; i++)
        if (l->lens[i] == (Py_ssize_t)strlen(word) && memcmp(l->names[i], word, (size_t)l->lens[i]) == 0)
            return i;
    return -1;
}

static int read_layout(PyObject *fields, PyObject *trs, Layout *l) {
    l->n = PyTuple_GET_SIZE(fields);
    if (l->n == 0 || l->n > MAX_FIELDS || PyTuple_GET_SIZE(trs) > 8) {
        PyErr_SetString(PyExc_ValueError, "1 to 96 fields and at most 8 TR ids");
        return -1;
    }
    for (Py_ssize_t i = 0; i < l->n + 2; i++) {
        const char *name, *kind = "t";
        Py_ssize_t len, kind_len = 1;
        if (i < l->n) {
            PyObject *item = PyTuple_GET_ITEM(fields, i);
            if (!PyTuple_Check(item)) {
                PyErr_SetString(PyExc_TypeError, "each field must be a (name, kind) tuple");
                return -1;
            }
            if (!PyArg_ParseTuple(item, "s#s#", &name, &len, &kind, &kind_len)) return -1;
            if (kind_len != 1 || strchr("tqid?", kind[0]) == NULL || kind[0] == '\0') {
                PyErr_SetString(PyExc_ValueError, "field kind must be one of t q i d ?");
                return -1;
            }
            l->kinds[i] = kind[0];
        } else {
            name = i == l->n ? "business_date" : "trade_ts";
            len = (Py_ssize_t)strlen(name);
        }
        if (len == 0 || len >= (Py_ssize_t)sizeof l->names[0]) {
            PyErr_SetString(PyExc_ValueError, "field names must be 1 to 63 bytes");
            return -1;
        }
        memcpy(l->names[i], name, (size_t)len);
        l->names[i][len] = '\0';
        l->lens[i] = len;
    }
    if (layout_index(l, "price") < 0 || layout_index(l, "trade_volume") < 0 ||
        layout_index(l, "acc_volume") < 0 || layout_index(l, "session") < 0 ||
        layout_index(l, "session_code") < 0) {
        PyErr_SetString(PyExc_ValueError,
                        "fields must include price, trade_volume, acc_volume, session, session_code");
        return -1;
    }
    l->ntrs = 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(trs); i++) {
        Py_ssize_t len;
        PyObject *item = PyTuple_GET_ITEM(trs, i);
        const char *tr = PyUnicode_Check(item) ? PyUnicode_AsUTF8AndSize(item, &len) : NULL;
        if (tr == NULL) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "TR ids must be str");
            return -1;
        }
        if (len == 0 || len >= (Py_ssize_t)sizeof l->trs[0]) {
            PyErr_SetString(PyExc_ValueError, "TR ids must be 1 to 15 bytes");
            return -1;
        }
        memcpy(l->trs[l->ntrs++], tr, (size_t)len + 1);
    }
    return 0;
}

static PyObject *configure(PyObject *module, PyObject *args) {
    (void)module;
    PyObject *fields, *trs;
    if (!PyArg_ParseTuple(args, "O!O!:configure", &PyTuple_Type, &fields, &PyTuple_Type, &trs))
        return NULL;
    Layout *l = PyMem_Calloc(1, sizeof *l);
    if (l == NULL) return PyErr_NoMemory();
    PyObject *result = NULL;
    if (read_layout(fields, trs, l) < 0) goto done;
    if (nfields > 0) { /* encode_lines may be reading the layout in another thread */
        if (same_layout(l))
            result = Py_NewRef(Py_None);
        else
            PyErr_SetString(PyExc_RuntimeError, "configure() was already called with another layout");
        goto done;
    }
    for (Py_ssize_t i = 0; i < l->n + 2; i++) {
        field_names[i] = PyMem_RawMalloc((size_t)l->lens[i] + 1);
        if (field_names[i] == NULL) {
            for (Py_ssize_t j = 0; j < i; j++) PyMem_RawFree(field_names[j]), field_names[j] = NULL;
            PyErr_NoMemory();
            goto done;
        }
        memcpy(field_names[i], l->names[i], (size_t)l->lens[i] + 1);
        field_lens[i] = l->lens[i];
        if (i < l->n) field_kinds[i] = l->kinds[i];
    }
    f_price = layout_index(l, "price");
    f_trade_volume = layout_index(l, "trade_volume");
    f_acc_volume = layout_index(l, "acc_volume");
    f_session = layout_index(l, "session");
    f_session_code = layout_index(l, "session_code");
    f_business_date = l->n;
    f_trade_ts = l->n + 1;
    memcpy(tr_ids, l->trs, sizeof tr_ids);
    for (int i = 0; i < l->ntrs; i++) tr_id_lens[i] = (Py_ssize_t)strlen(tr_ids[i]);
    n_tr_ids = l->ntrs;
    nfields = l->n; /* last: the layout is complete before encode_lines can see it */
    result = Py_NewRef(Py_None);
done:
    PyMem_Free(l);
    return result;
}

static int buf_append(Buf *b, const char *data, Py_ssize_t n) {
    if (buf_reserve(b, n) < 0) return -1;
    memcpy(b->data + b->len, data, (size_t)n);
    b->len += n;
    return 0;
}

/* Append C buffers to bytearrays (with the GIL). */
static int flush_to(PyObject *target, Buf *from) {
    Py_ssize_t n0 = PyByteArray_GET_SIZE(target);
    if (from->len == 0) return 0;
    if (PyByteArray_Resize(target, n0 + from->len) < 0) return -1;
    memcpy(PyByteArray_AS_STRING(target) + n0, from->data, (size_t)from->len);
    return 0;
}

PyDoc_STRVAR(encode_lines_doc,
             "encode_lines(data, start, most, day, day_value, rows, bars)\n"
             "    -> (next, taken, last_seq, last_recv_ns)\n\n"
             "Takes the newline-ended archive lines of ``data`` from byte ``start`` on, without\n"
             "the GIL, until ``most`` are taken, the complete lines end, or a line needs the\n"
             "general path (empty lines are stepped over). For each it appends the binary COPY\n"
             "rows to the bytearrays ``rows`` (ticks) and ``bars`` (bar inputs). ``day`` is the\n"
             "batch's business date (YYYYMMDD), ``day_value`` its days since 2000-01-01. ``next``\n"
             "is the offset of the first line not consumed; ``last_seq`` (None when no taken line\n"
             "had one) and ``last_recv_ns`` (None when none was taken) are of the last taken.");

static PyObject *encode_lines(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 7 || !PyBytes_CheckExact(args[0]) || !PyLong_Check(args[1]) ||
        !PyLong_Check(args[2]) || !PyUnicode_Check(args[3]) || !PyLong_Check(args[4]) ||
        !PyByteArray_CheckExact(args[5]) || !PyByteArray_CheckExact(args[6])) {
        PyErr_SetString(PyExc_TypeError,
                        "encode_lines(bytes, int, int, str, int, bytearray rows, bytearray bars)");
        return NULL;
    }
    if (nfields == 0) {
        PyErr_SetString(PyExc_RuntimeError, "configure() was not called");
        return NULL;
    }
    Py_ssize_t start = PyLong_AsSsize_t(args[1]), most = PyLong_AsSsize_t(args[2]);
    if (PyErr_Occurred()) return NULL;
    Py_ssize_t day_len;
    const char *day = PyUnicode_AsUTF8AndSize(args[3], &day_len);
    if (day == NULL) return NULL;
    long day_value = PyLong_AsLong(args[4]);
    if (day_value == -1 && PyErr_Occurred()) return NULL;
    if (day_value < INT32_MIN || day_value > INT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "day_value out of range");
        return NULL;
    }
    /* bytes never change and the caller holds a reference: readable without the GIL. */
    const char *data = PyBytes_AS_STRING(args[0]);
    Py_ssize_t size = PyBytes_GET_SIZE(args[0]);
    Py_ssize_t pos = start < 0 ? 0 : (start > size ? size : start);
    Buf out[2];
    memset(out, 0, sizeof out);
    Py_ssize_t taken = 0;
    int64_t last_seq = 0, last_recv = 0, seq = 0, recv_ns = 0;
    int has_last_seq = 0, failed = 0;
    Py_BEGIN_ALLOW_THREADS
    while (pos < size && taken < most) {
        const char *line = data + pos;
        const char *newline = memchr(line, '\n', (size_t)(size - pos));
        if (newline == NULL) break; /* not a complete line */
        Py_ssize_t len = newline - line;
        if (len == 0) {
            pos += 1;
            continue;
        }
        int has_seq = 0;
        int done = encode(line, len, day, day_len, (int32_t)day_value, &seq, &has_seq, &recv_ns);
        if (done < 0) {
            failed = 1;
            break;
        }
        if (done == 0) break;
        if (buf_append(&out[0], scratch_row.data, scratch_row.len) < 0 ||
            buf_append(&out[1], scratch_bar.data, scratch_bar.len) < 0) {
            failed = 1;
            break;
        }
        taken++;
        pos += len + 1;
        last_recv = recv_ns;
        if (has_seq) {
            last_seq = seq;
            has_last_seq = 1;
        }
    }
    Py_END_ALLOW_THREADS
    PyObject *result = NULL;
    if (failed) {
        PyErr_NoMemory();
    } else if (flush_to(args[5], &out[0]) == 0 && flush_to(args[6], &out[1]) == 0) {
        PyObject *seq_obj = has_last_seq ? PyLong_FromLongLong(last_seq) : Py_NewRef(Py_None);
        PyObject *recv_obj = taken ? PyLong_FromLongLong(last_recv) : Py_NewRef(Py_None);
        if (seq_obj != NULL && recv_obj != NULL)
            result = Py_BuildValue("(nnOO)", pos, taken, seq_obj, recv_obj);
        Py_XDECREF(seq_obj);
        Py_XDECREF(recv_obj);
    }
    PyMem_RawFree(out[0].data);
    PyMem_RawFree(out[1].data);
    return result;
}

static PyMethodDef methods[] = {
    {"configure", (PyCFunction)configure, METH_VARARGS, configure_doc},
    {"encode_lines", (PyCFunction)(void (*)(void))encode_lines, METH_FASTCALL, encode_lines_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_tickcopy", "Binary COPY rows of archived trade lines (the loader's hot path).",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__tickcopy(void) {
    c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    if (c_locale == (locale_t)0) return PyErr_NoMemory();
    for (int i = 0; i < R_COUNT; i++) record_key_lens[i] = (Py_ssize_t)strlen(record_keys[i]);
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL) return NULL;
    PyObject *header = PyTuple_New(HEADER_COUNT);
    for (int i = 0; header != NULL && i < HEADER_COUNT; i++) {
        PyObject *pair = Py_BuildValue("(ss)", header_columns[i][0], header_columns[i][1]);
        if (pair == NULL) Py_CLEAR(header);
        else PyTuple_SET_ITEM(header, i, pair);
    }
    if (header == NULL || PyModule_AddObject(module, "HEADER", header) < 0) {
        Py_XDECREF(header);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
