/* venues.live._l2book: `L2Book` (venues/live/book.py) as a C type, the same interface and results.
 *
 * Every live feed keeps its books in one: each update is a `set` (Kalshi: `add`), each book handed
 * on is a `top` of each side, and the checks read `best_prices`/`crossed`. In Python a side is a
 * dict price -> level plus a sorted list of prices, so an update is a dict write and, for a new or
 * emptied level, a bisect and a list insert; a few hundred bytecodes a frame, which a cold frame
 * pays in full.
 *
 * Here a side is one sorted array of (key, level) with the best level LAST (key = price for bids,
 * -price for asks, ascending), so the changes a venue sends most (near the top) move few entries,
 * and the best levels are read off the end. A level is the (price, size) tuple a snapshot hands out:
 * the ints given to `set`, kept as they are (a size of any magnitude, never converted; a price must
 * fit in 63 bits, which every venue's price x1e9 does by nine orders of magnitude).
 *
 * Prices and sizes must be exact ints (what every feed parses text to; anything else is a TypeError,
 * where the Python class would take any number). So no Python code runs while a side is being
 * changed (no __gt__, __add__ or __del__ of a size), and the book holds only tuples of ints: it can
 * be in no reference cycle, and is not a GC type. A book belongs to one feed: nothing else (no
 * finalizer run by a garbage collection during an allocation here) changes it during a call.
 *
 * `top(side, depth)` keeps the tuple it built until a change reaches the best `depth` levels, the
 * same rule as the Python class (a consumer compares by identity to skip an unchanged side).
 * tests/venues/live/test_book.py runs both classes on random changes and compares every answer,
 * the identity of the kept tuples included. The Python class stays as the reference and the fallback
 * where this module was not built.
 *
 * Built by `pip install -e .` (setup.py) with the machine's compiler.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    long long key;   /* price (bids) or -price (asks): ascending, best last */
    PyObject *level; /* the (price, size) tuple, owned */
} Entry;

typedef struct {
    Entry *a;
    Py_ssize_t n, cap;
    PyObject *top; /* the best `top_depth` levels, best first, or NULL once a change reached them */
} Side;

typedef struct {
    PyObject_HEAD
    Side s[2];
    Py_ssize_t top_depth;
} Book;

static PyTypeObject BookType;

/* -- helpers ------------------------------------------------------------------------------------ */

static int get_side(PyObject *o) {
    long v = PyLong_AsLong(o);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (v != 0 && v != 1) {
        PyErr_SetString(PyExc_ValueError, "side must be 0 (bid) or 1 (ask)");
        return -1;
    }
    return (int)v;
}

/* The sort key of `px` on `side`; -1 with an error set when it is not an int in 63 bits. */
static int get_key(PyObject *px, int side, long long *key) {
    if (!PyLong_CheckExact(px)) {
        PyErr_SetString(PyExc_TypeError, "a price must be an int");
        return -1;
    }
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(px, &overflow);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (overflow || v == LLONG_MIN) {
        PyErr_SetString(PyExc_ValueError, "price out of range");
        return -1;
    }
    *key = side == 0 ? v : -v;
    return 0;
}

/* 1 when qty > 0, 0 when not, -1 with a TypeError when it is not an exact int. */
static int positive(PyObject *qty) {
    if (!PyLong_CheckExact(qty)) {
        PyErr_SetString(PyExc_TypeError, "a size must be an int");
        return -1;
    }
    return _PyLong_Sign(qty) > 0;
}

/* The first index whose key is >= key. */
static Py_ssize_t lower_bound(const Side *sd, long long key) {
    Py_ssize_t lo = 0, hi = sd->n;
    /* most changes are near the top (the end): look there first */
    if (hi > 0 && sd->a[hi - 1].key < key)
        return hi;
    while (lo < hi) {
        Py_ssize_t mid = (lo + hi) >> 1;
        if (sd->a[mid].key < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int reserve(Side *sd, Py_ssize_t want) {
    if (want <= sd->cap)
        return 0;
    Py_ssize_t cap = sd->cap ? sd->cap : 16;
    while (cap < want)
        cap *= 2;
    Entry *a = PyMem_Realloc(sd->a, (size_t)cap * sizeof(Entry));
    if (a == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    sd->a = a;
    sd->cap = cap;
    return 0;
}

/* A change at rank `rank` (0 = best) of a side: the kept top goes when the change is within it. */
static void touched(Book *b, Side *sd, Py_ssize_t rank) {
    if (sd->top != NULL && rank < b->top_depth)
        Py_CLEAR(sd->top);
}

/* Empty a side. The levels are detached before they are released (as `truncate` does), so the
 * side is consistent whatever a release does. */
static void clear_side(Side *sd) {
    Entry *a = sd->a;
    Py_ssize_t n = sd->n;
    sd->a = NULL;
    sd->n = sd->cap = 0;
    Py_CLEAR(sd->top);
    for (Py_ssize_t i = 0; i < n; i++)
        Py_DECREF(a[i].level);
    PyMem_Free(a);
}

/* Set the size at a level (qty <= 0 removes it; removing an absent level is a no-op). */
static int book_set(Book *b, int side, PyObject *px, PyObject *qty) {
    long long key;
    if (get_key(px, side, &key) < 0)
        return -1;
    int pos = positive(qty);
    if (pos < 0)
        return -1;
    /* the new level first: its allocation may collect garbage, before the side is looked at */
    PyObject *level = pos ? PyTuple_Pack(2, px, qty) : NULL;
    if (pos && level == NULL)
        return -1;
    Side *sd = &b->s[side];
    Py_ssize_t i = lower_bound(sd, key);
    int found = i < sd->n && sd->a[i].key == key;
    if (pos) {
        if (found) {
            Py_SETREF(sd->a[i].level, level);
            touched(b, sd, sd->n - 1 - i);
            return 0;
        }
        if (reserve(sd, sd->n + 1) < 0) {
            Py_DECREF(level);
            return -1;
        }
        memmove(&sd->a[i + 1], &sd->a[i], (size_t)(sd->n - i) * sizeof(Entry));
        sd->a[i].key = key;
        sd->a[i].level = level;
        sd->n++;
        touched(b, sd, sd->n - 1 - i);
        return 0;
    }
    if (!found)
        return 0;
    Py_ssize_t rank = sd->n - 1 - i;
    PyObject *old = sd->a[i].level;
    memmove(&sd->a[i], &sd->a[i + 1], (size_t)(sd->n - i - 1) * sizeof(Entry));
    sd->n--;
    touched(b, sd, rank);
    Py_DECREF(old);
    return 0;
}

static PyObject *best_first(const Side *sd, Py_ssize_t depth) {
    Py_ssize_t n = depth < sd->n ? depth : sd->n;
    if (n < 0)
        n = 0;
    PyObject *out = PyTuple_New(n);
    if (out == NULL)
        return NULL;
    for (Py_ssize_t j = 0; j < n; j++) {
        PyObject *lv = sd->a[sd->n - 1 - j].level;
        Py_INCREF(lv);
        PyTuple_SET_ITEM(out, j, lv);
    }
    return out;
}

/* -- the type ---------------------------------------------------------------------------------- */

static PyObject *Book_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    (void)args;
    (void)kwds;
    Book *b = (Book *)type->tp_alloc(type, 0);
    return (PyObject *)b; /* tp_alloc zeroes the struct: empty sides, no kept tops, depth 0 */
}

static void Book_dealloc(Book *b) {
    clear_side(&b->s[0]);
    clear_side(&b->s[1]);
    Py_TYPE(b)->tp_free((PyObject *)b);
}

static PyObject *Book_clear(Book *b, PyObject *noargs) {
    (void)noargs;
    clear_side(&b->s[0]);
    clear_side(&b->s[1]);
    Py_RETURN_NONE;
}

static PyObject *Book_set(Book *b, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "set(side, price_1e9, qty_1e8)");
        return NULL;
    }
    int side = get_side(args[0]);
    if (side < 0 || book_set(b, side, args[1], args[2]) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *Book_add(Book *b, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "add(side, price_1e9, delta_1e8)");
        return NULL;
    }
    int side = get_side(args[0]);
    if (side < 0)
        return NULL;
    long long key;
    if (get_key(args[1], side, &key) < 0)
        return NULL;
    if (!PyLong_CheckExact(args[2])) {
        PyErr_SetString(PyExc_TypeError, "a size must be an int");
        return NULL;
    }
    Side *sd = &b->s[side];
    Py_ssize_t i = lower_bound(sd, key);
    PyObject *qty; /* int + int: no Python code runs */
    if (i < sd->n && sd->a[i].key == key)
        qty = PyNumber_Add(PyTuple_GET_ITEM(sd->a[i].level, 1), args[2]);
    else
        qty = Py_NewRef(args[2]);
    if (qty == NULL)
        return NULL;
    int r = book_set(b, side, args[1], qty);
    Py_DECREF(qty);
    if (r < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *Book_size(Book *b, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "size(side, price_1e9)");
        return NULL;
    }
    int side = get_side(args[0]);
    if (side < 0)
        return NULL;
    long long key;
    if (get_key(args[1], side, &key) < 0) {
        if (!PyErr_ExceptionMatches(PyExc_ValueError))
            return NULL;
        PyErr_Clear(); /* a price no level can have */
        return PyLong_FromLong(0);
    }
    Side *sd = &b->s[side];
    Py_ssize_t i = lower_bound(sd, key);
    if (i < sd->n && sd->a[i].key == key)
        return Py_NewRef(PyTuple_GET_ITEM(sd->a[i].level, 1));
    return PyLong_FromLong(0);
}

typedef struct {
    long long key;
    Py_ssize_t order;
    PyObject *level; /* owned until kept */
} Given;

static int by_key_then_order(const void *x, const void *y) {
    const Given *a = x, *b = y;
    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    return a->order < b->order ? -1 : (a->order > b->order);
}

/* One level of a snapshot as the (price, size) tuple kept: a 2-tuple of exact ints as it is, a
 * 2-list as a new tuple; NULL with an error for anything else. New reference. */
static PyObject *level_of(PyObject *lv) {
    PyObject *px, *qty;
    if (PyTuple_CheckExact(lv) && PyTuple_GET_SIZE(lv) == 2) {
        px = PyTuple_GET_ITEM(lv, 0);
        qty = PyTuple_GET_ITEM(lv, 1);
    } else if (PyList_CheckExact(lv) && PyList_GET_SIZE(lv) == 2) {
        px = PyList_GET_ITEM(lv, 0);
        qty = PyList_GET_ITEM(lv, 1);
    } else {
        PyErr_SetString(PyExc_ValueError, "a level is a (price, size) pair");
        return NULL;
    }
    if (!PyLong_CheckExact(px) || !PyLong_CheckExact(qty)) {
        PyErr_SetString(PyExc_TypeError, "a level's price and size must be ints");
        return NULL;
    }
    return PyTuple_CheckExact(lv) ? Py_NewRef(lv) : PyTuple_Pack(2, px, qty);
}

/* One side of a snapshot: levels in any order, zero sizes skipped, a repeated price's last level
 * kept (as the Python class's dict does). Every level is read and checked, and the new side built,
 * before the old one is let go: a bad side leaves that side as it was (as in the Python class). */
static int load_side(Book *b, int side, PyObject *given) {
    PyObject *seq = PySequence_Tuple(given); /* ours: nothing can take a level away from it */
    if (seq == NULL)
        return -1;
    Py_ssize_t n = PyTuple_GET_SIZE(seq);
    PyObject **items = &PyTuple_GET_ITEM(seq, 0);
    Given *g = PyMem_Malloc((size_t)(n ? n : 1) * sizeof(Given));
    if (g == NULL) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t m = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *lv = level_of(items[i]);
        if (lv == NULL)
            goto fail;
        if (!positive(PyTuple_GET_ITEM(lv, 1))) {
            Py_DECREF(lv);
            continue;
        }
        if (get_key(PyTuple_GET_ITEM(lv, 0), side, &g[m].key) < 0) {
            Py_DECREF(lv);
            goto fail;
        }
        g[m].order = i;
        g[m].level = lv;
        m++;
    }
    qsort(g, (size_t)m, sizeof(Given), by_key_then_order);
    Entry *a = PyMem_Malloc((size_t)(m ? m : 1) * sizeof(Entry));
    if (a == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    Py_ssize_t kept = 0;
    for (Py_ssize_t i = 0; i < m; i++) {
        if (i + 1 < m && g[i + 1].key == g[i].key) {
            Py_CLEAR(g[i].level); /* a later level at the same price replaces this one */
            continue;
        }
        a[kept].key = g[i].key;
        a[kept].level = g[i].level; /* the reference moves to the side */
        g[i].level = NULL;
        kept++;
    }
    PyMem_Free(g);
    Py_DECREF(seq);
    Side *sd = &b->s[side];
    clear_side(sd);
    sd->a = a;
    sd->n = kept;
    sd->cap = m ? m : 1;
    return 0;
fail:
    for (Py_ssize_t i = 0; i < m; i++)
        Py_XDECREF(g[i].level);
    PyMem_Free(g);
    Py_DECREF(seq);
    return -1;
}

static PyObject *Book_replace(Book *b, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "replace(bids, asks)");
        return NULL;
    }
    if (load_side(b, 0, args[0]) < 0 || load_side(b, 1, args[1]) < 0)
        return NULL;
    Py_CLEAR(b->s[0].top);
    Py_CLEAR(b->s[1].top);
    Py_RETURN_NONE;
}

static PyObject *Book_truncate(Book *b, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "truncate(side, depth)");
        return NULL;
    }
    int side = get_side(args[0]);
    if (side < 0)
        return NULL;
    Py_ssize_t depth = PyLong_AsSsize_t(args[1]);
    if (depth == -1 && PyErr_Occurred())
        return NULL;
    Side *sd = &b->s[side];
    Py_ssize_t extra = sd->n - (depth > 0 ? depth : 0);
    if (extra <= 0)
        Py_RETURN_NONE;
    PyObject **dropped = PyMem_Malloc((size_t)extra * sizeof(PyObject *));
    if (dropped == NULL)
        return PyErr_NoMemory();
    for (Py_ssize_t i = 0; i < extra; i++) /* the worst levels are at the front */
        dropped[i] = sd->a[i].level;
    memmove(&sd->a[0], &sd->a[extra], (size_t)(sd->n - extra) * sizeof(Entry));
    sd->n -= extra;
    Py_CLEAR(sd->top);
    for (Py_ssize_t i = 0; i < extra; i++)
        Py_DECREF(dropped[i]);
    PyMem_Free(dropped);
    Py_RETURN_NONE;
}

static PyObject *Book_best(Book *b, PyObject *arg) {
    int side = get_side(arg);
    if (side < 0)
        return NULL;
    Side *sd = &b->s[side];
    if (sd->n == 0)
        Py_RETURN_NONE;
    return Py_NewRef(sd->a[sd->n - 1].level);
}

static PyObject *Book_best_prices(Book *b, PyObject *noargs) {
    (void)noargs;
    Side *bids = &b->s[0], *asks = &b->s[1];
    PyObject *bid = bids->n ? PyTuple_GET_ITEM(bids->a[bids->n - 1].level, 0) : Py_None;
    PyObject *ask = asks->n ? PyTuple_GET_ITEM(asks->a[asks->n - 1].level, 0) : Py_None;
    return PyTuple_Pack(2, bid, ask);
}

static PyObject *Book_levels(Book *b, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "levels(side, depth)");
        return NULL;
    }
    int side = get_side(args[0]);
    if (side < 0)
        return NULL;
    Py_ssize_t depth = PyLong_AsSsize_t(args[1]);
    if (depth == -1 && PyErr_Occurred())
        return NULL;
    PyObject *t = best_first(&b->s[side], depth);
    if (t == NULL)
        return NULL;
    PyObject *out = PySequence_List(t);
    Py_DECREF(t);
    return out;
}

static PyObject *Book_top(Book *b, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "top(side, depth)");
        return NULL;
    }
    int side = get_side(args[0]);
    if (side < 0)
        return NULL;
    Py_ssize_t depth = PyLong_AsSsize_t(args[1]);
    if (depth == -1 && PyErr_Occurred())
        return NULL;
    if (depth != b->top_depth) {
        b->top_depth = depth;
        Py_CLEAR(b->s[0].top);
        Py_CLEAR(b->s[1].top);
    }
    Side *sd = &b->s[side];
    if (sd->top == NULL) {
        sd->top = best_first(sd, depth);
        if (sd->top == NULL)
            return NULL;
    }
    return Py_NewRef(sd->top);
}

static PyObject *Book_depth(Book *b, PyObject *arg) {
    int side = get_side(arg);
    if (side < 0)
        return NULL;
    return PyLong_FromSsize_t(b->s[side].n);
}

static PyObject *Book_crossed(Book *b, void *closure) {
    (void)closure;
    const Side *bids = &b->s[0], *asks = &b->s[1];
    /* best bid >= best ask; the ask's key is -price */
    return PyBool_FromLong(bids->n && asks->n && bids->a[bids->n - 1].key >= -asks->a[asks->n - 1].key);
}

/* -- Polymarket's price_change, applied in one call ------------------------------------------------
 *
 * apply_price_changes(changes, tokens, ts_ms) -> list | None
 *
 * The common case of venues/polymarket/feed.py `PolymarketFeed._on_price_change`, which stays the
 * reference and takes every other case: a `price_changes` list whose entries are all dicts for
 * tokens we either skip (not ours, no snapshot yet, older than the snapshot we hold) or apply (side
 * BUY or SELL, a price text of at most 1 and a size text of at most 18 digits, best_bid/best_ask
 * absent, "" or such price texts too, a C book, the message's time and the token's times small ints). Anything else (an entry that is not a dict, an update older than one
 * applied since the snapshot, a text that is not a plain decimal, ...) answers None before a book or
 * token is touched, and the Python path handles the whole message. Otherwise the books take the
 * changes in order, each token applied gets its `hash` (when the entry's is a string) and
 * `last_ts_ms`, and the answer is [(token, verdict)] in the order tokens were first touched: 0 the
 * book agrees with the venue's best bid and ask of the token's last entry, 1 crossed, 2 disagrees (a
 * lost update). The caller emits or resyncs each, as the Python path does.
 * tests/venues/polymarket/test_polymarket_native.py runs both paths on the same random messages
 * and compares every event and book. */

static PyObject *a_synced, *a_last_ts_ms, *a_book_ts_ms, *a_book, *a_hash;
static PyObject *k_asset_id, *k_side, *k_price, *k_size, *k_hash, *k_best_bid, *k_best_ask;

#define ONE_1E9 1000000000LL

static const long long POW10[19] = {
    1LL, 10LL, 100LL, 1000LL, 10000LL, 100000LL, 1000000LL, 10000000LL, 100000000LL, 1000000000LL,
    10000000000LL, 100000000000LL, 1000000000000LL, 10000000000000LL, 100000000000000LL,
    1000000000000000LL, 10000000000000000LL, 100000000000000000LL, 1000000000000000000LL,
};

/* Polymarket's decimal text as an integer x10^digits, as venues/polymarket/feed.py `_fixed` reads
 * it ("0.52", ".48", "1000", "12.50", "5."; no sign, exponent or space; decimals past `digits` only
 * zeros). 1 and *out set; 0 when it is not such a text, or has more than 18 digits: the Python path
 * decides then. */
static int parse_fixed(PyObject *text, int digits, long long *out) {
    if (!PyUnicode_CheckExact(text) || !PyUnicode_IS_ASCII(text))
        return 0;
    Py_ssize_t len = PyUnicode_GET_LENGTH(text);
    const char *c = (const char *)PyUnicode_DATA(text);
    if (len == 0 || len > 40)
        return 0;
    Py_ssize_t i = 0, whole = 0, frac = 0, used = 0;
    unsigned long long v = 0;
    for (; i < len && c[i] != '.'; i++) {
        if (c[i] < '0' || c[i] > '9')
            return 0;
        v = v * 10 + (unsigned)(c[i] - '0');
        if (++used > 18)
            return 0;
        whole++;
    }
    if (i < len) { /* the dot */
        for (i++; i < len; i++) {
            if (c[i] < '0' || c[i] > '9')
                return 0; /* a second dot too */
            if (frac >= digits) {
                if (c[i] != '0')
                    return 0; /* a decimal the scale cannot hold */
                continue;
            }
            v = v * 10 + (unsigned)(c[i] - '0');
            if (++used > 18)
                return 0;
            frac++;
        }
        if (whole == 0 && frac == 0)
            return 0; /* "." (digits > 0: a "." followed by digits keeps at least one) */
    } else if (whole == 0) {
        return 0;
    }
    unsigned long long scale = (unsigned long long)POW10[digits - frac];
    if (v > (unsigned long long)LLONG_MAX / scale)
        return 0;
    *out = (long long)(v * scale);
    return 1;
}

typedef struct {
    PyObject *tok;   /* owned until the call ends */
    Book *book;      /* owned until the call ends */
    int side;
    long long px, qty;
    PyObject *hash;  /* owned until the call ends; NULL when absent */
    int has_best;    /* best_bid or best_ask given (not absent or None) */
    long long bb, ba; /* 0 for absent, None or "" */
} Change;

typedef struct {
    PyObject *tok; /* borrowed from a Change */
    Book *book;
    int has_best;
    long long bb, ba;
} Touched;

/* A best_bid/best_ask field: 1 and *out (0 for absent, None or ""), 0 when the Python path must
 * read it. */
static int best_value(PyObject *field, long long *out) {
    *out = 0;
    if (field == NULL || field == Py_None)
        return 1;
    if (PyUnicode_CheckExact(field) && PyUnicode_GET_LENGTH(field) == 0)
        return 1;
    return parse_fixed(field, 9, out) && *out <= ONE_1E9; /* past 1 is no price of Polymarket's */
}

/* Does the book's top agree with the venue's best bid and ask (venues/polymarket/feed.py
 * `_tops_agree`)? An empty side is a bid of 0 or an ask of 0 or 1. */
static int tops_agree(const Book *b, const Touched *t) {
    if (!t->has_best)
        return 1;
    const Side *bs = &b->s[0], *as = &b->s[1];
    if (bs->n == 0 ? t->bb != 0 : bs->a[bs->n - 1].key != t->bb)
        return 0;
    if (as->n == 0)
        return t->ba == 0 || t->ba == ONE_1E9;
    return -as->a[as->n - 1].key == t->ba;
}

static PyObject *item(PyObject *d, PyObject *key, int *err) {
    PyObject *v = PyDict_GetItemWithError(d, key);
    if (v == NULL && PyErr_Occurred())
        *err = 1;
    return v;
}

/* An int attribute of a token as a C value: 1 and *out, 0 when it is not a small exact int (the
 * Python path decides then), -1 on error. */
static int int_attr(PyObject *tok, PyObject *name, long long *out) {
    PyObject *v = PyObject_GetAttr(tok, name);
    if (v == NULL)
        return -1;
    int ok = 0;
    if (PyLong_CheckExact(v)) {
        int overflow = 0;
        *out = PyLong_AsLongLongAndOverflow(v, &overflow);
        ok = !overflow && !(*out == -1 && PyErr_Occurred());
        PyErr_Clear();
    }
    Py_DECREF(v);
    return ok;
}

static PyObject *apply_price_changes(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 3 || !PyList_CheckExact(args[0]) || !PyDict_CheckExact(args[1])) {
        PyErr_SetString(PyExc_TypeError, "apply_price_changes(list, tokens dict, ts_ms)");
        return NULL;
    }
    PyObject *tokens = args[1], *ts_obj = args[2];
    if (!PyLong_CheckExact(ts_obj))
        Py_RETURN_NONE;
    int overflow = 0;
    long long ts_ms = PyLong_AsLongLongAndOverflow(ts_obj, &overflow);
    if (overflow || (ts_ms == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    /* An owned copy of the entries (the tokens' attributes are read through Python's protocols, and
     * whatever that runs cannot take an entry away from under us); every token, book and hash kept
     * is owned too, until the call ends. */
    PyObject *changes = PyList_AsTuple(args[0]);
    if (changes == NULL)
        return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(changes), m = 0, nt = 0;
    Change *cs = PyMem_Malloc((size_t)(n ? n : 1) * sizeof(Change));
    Touched *ts = PyMem_Malloc((size_t)(n ? n : 1) * sizeof(Touched));
    PyObject *out = NULL;
    int err = 0;
    if (cs == NULL || ts == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    /* 1. read and check every entry; nothing changes yet */
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *ch = PyTuple_GET_ITEM(changes, i);
        if (!PyDict_CheckExact(ch))
            goto python;
        PyObject *aid = item(ch, k_asset_id, &err);
        if (err)
            goto done;
        if (aid == NULL)
            continue; /* names no token: not ours */
        if (!PyUnicode_CheckExact(aid))
            goto python;
        PyObject *tok = PyDict_GetItemWithError(tokens, aid);
        if (tok == NULL) {
            if (PyErr_Occurred())
                goto done;
            continue; /* not ours */
        }
        Py_INCREF(tok);
        PyObject *v = PyObject_GetAttr(tok, a_synced);
        if (v == NULL) {
            Py_DECREF(tok);
            goto done;
        }
        Py_DECREF(v); /* only compared with True and False (static objects) below */
        if (v != Py_True) {
            Py_DECREF(tok);
            if (v == Py_False)
                continue; /* waiting for its snapshot, which will include this */
            goto python;
        }
        long long last, snap;
        int r = int_attr(tok, a_last_ts_ms, &last);
        if (r > 0 && ts_ms < last)
            r = int_attr(tok, a_book_ts_ms, &snap);
        if (r <= 0) {
            Py_DECREF(tok);
            if (r < 0)
                goto done;
            goto python;
        }
        if (ts_ms < last) {
            Py_DECREF(tok);
            if (last == snap)
                continue; /* older than the snapshot we hold, nothing since: it has it */
            goto python;  /* out of order */
        }
        /* the entry's fields, read and parsed with no Python code in between */
        Change *c = &cs[m];
        PyObject *side = item(ch, k_side, &err), *price = item(ch, k_price, &err), *size = item(ch, k_size, &err);
        PyObject *hash = item(ch, k_hash, &err);
        PyObject *bb = item(ch, k_best_bid, &err), *ba = item(ch, k_best_ask, &err);
        int ok = !err && side != NULL && PyUnicode_CheckExact(side);
        if (ok) {
            if (PyUnicode_CompareWithASCIIString(side, "BUY") == 0)
                c->side = 0;
            else if (PyUnicode_CompareWithASCIIString(side, "SELL") == 0)
                c->side = 1;
            else
                ok = 0;
        }
        ok = ok && price != NULL && size != NULL && parse_fixed(price, 9, &c->px) && c->px <= ONE_1E9 &&
             parse_fixed(size, 8, &c->qty);
        if (ok) {
            c->has_best = !((bb == NULL || bb == Py_None) && (ba == NULL || ba == Py_None));
            ok = best_value(bb, &c->bb) && best_value(ba, &c->ba);
        }
        if (!ok) {
            Py_DECREF(tok);
            if (err)
                goto done;
            goto python;
        }
        c->hash = hash != NULL && PyUnicode_CheckExact(hash) ? Py_NewRef(hash) : NULL;
        PyObject *book = PyObject_GetAttr(tok, a_book);
        if (book == NULL || !PyObject_TypeCheck(book, &BookType)) {
            Py_XDECREF(book);
            Py_XDECREF(c->hash);
            Py_DECREF(tok);
            if (book == NULL)
                goto done;
            goto python;
        }
        c->book = (Book *)book;
        c->tok = tok;
        m++;
    }
    /* 2. apply them in order */
    for (Py_ssize_t i = 0; i < m; i++) {
        Change *c = &cs[i];
        PyObject *px = PyLong_FromLongLong(c->px);
        PyObject *qty = px ? PyLong_FromLongLong(c->qty) : NULL;
        int r = qty ? book_set(c->book, c->side, px, qty) : -1;
        Py_XDECREF(px);
        Py_XDECREF(qty);
        if (r < 0)
            goto done;
        if (c->hash != NULL && PyObject_SetAttr(c->tok, a_hash, c->hash) < 0)
            goto done;
        Py_ssize_t j = 0;
        while (j < nt && ts[j].tok != c->tok)
            j++;
        if (j == nt) {
            ts[nt].tok = c->tok;
            ts[nt].book = c->book;
            nt++;
        }
        ts[j].has_best = c->has_best;
        ts[j].bb = c->bb;
        ts[j].ba = c->ba;
    }
    /* 3. each token touched: its time, and whether its book is still the venue's */
    out = PyList_New(nt);
    if (out == NULL)
        goto done;
    for (Py_ssize_t j = 0; j < nt; j++) {
        if (PyObject_SetAttr(ts[j].tok, a_last_ts_ms, ts_obj) < 0) {
            Py_CLEAR(out);
            goto done;
        }
        const Side *bs = &ts[j].book->s[0], *as = &ts[j].book->s[1];
        long verdict;
        if (bs->n && as->n && bs->a[bs->n - 1].key >= -as->a[as->n - 1].key)
            verdict = 1; /* crossed */
        else
            verdict = tops_agree(ts[j].book, &ts[j]) ? 0 : 2;
        PyObject *pair = Py_BuildValue("(Ol)", ts[j].tok, verdict);
        if (pair == NULL) {
            Py_CLEAR(out);
            goto done;
        }
        PyList_SET_ITEM(out, j, pair);
    }
    goto done;
python:
    out = Py_NewRef(Py_None);
done:
    for (Py_ssize_t i = 0; i < m; i++) {
        Py_DECREF(cs[i].tok);
        Py_DECREF(cs[i].book);
        Py_XDECREF(cs[i].hash);
    }
    PyMem_Free(cs);
    PyMem_Free(ts);
    Py_DECREF(changes);
    return out;
}

static PyMethodDef module_methods[] = {
    {"apply_price_changes", (PyCFunction)(void (*)(void))apply_price_changes, METH_FASTCALL,
     "Polymarket's price_change entries applied to C books in one call (None: take the Python path)."},
    {NULL, NULL, 0, NULL},
};

static PyMethodDef Book_methods[] = {
    {"clear", (PyCFunction)Book_clear, METH_NOARGS, "Empty both sides."},
    {"set", (PyCFunction)(void (*)(void))Book_set, METH_FASTCALL,
     "Set the size at a level (0 removes it). Removing an absent level is a no-op."},
    {"add", (PyCFunction)(void (*)(void))Book_add, METH_FASTCALL,
     "Add a signed change to the size at a level (the level goes at <= 0)."},
    {"size", (PyCFunction)(void (*)(void))Book_size, METH_FASTCALL, "The size at a level (0 when there is none)."},
    {"replace", (PyCFunction)(void (*)(void))Book_replace, METH_FASTCALL,
     "Load a snapshot (levels in any order; zero sizes are skipped)."},
    {"truncate", (PyCFunction)(void (*)(void))Book_truncate, METH_FASTCALL,
     "Keep only the best `depth` levels of a side."},
    {"best", (PyCFunction)Book_best, METH_O, "The best level of a side, or None."},
    {"best_prices", (PyCFunction)Book_best_prices, METH_NOARGS,
     "(best bid price, best ask price), None for an empty side."},
    {"levels", (PyCFunction)(void (*)(void))Book_levels, METH_FASTCALL,
     "The best `depth` levels of a side, best first."},
    {"top", (PyCFunction)(void (*)(void))Book_top, METH_FASTCALL,
     "levels(side, depth) as a tuple, the same tuple as last time when nothing in it changed."},
    {"depth", (PyCFunction)Book_depth, METH_O, "How many levels a side has."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Book_getset[] = {
    {"crossed", (getter)Book_crossed, NULL, "True when the best bid is at or above the best ask.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject BookType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "venues.live._l2book.L2Book",
    .tp_doc = "One instrument's level-2 book (venues/live/book.py's L2Book, in C). Not thread-safe.",
    .tp_basicsize = sizeof(Book),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_new = Book_new,
    .tp_dealloc = (destructor)Book_dealloc,
    .tp_methods = Book_methods,
    .tp_getset = Book_getset,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_l2book", "venues/live/book.py's L2Book as a C type.", -1, module_methods,
};

static int intern(PyObject **slot, const char *text) {
    *slot = PyUnicode_InternFromString(text);
    return *slot == NULL ? -1 : 0;
}

PyMODINIT_FUNC PyInit__l2book(void) {
    if (PyType_Ready(&BookType) < 0)
        return NULL;
    if (intern(&a_synced, "synced") || intern(&a_last_ts_ms, "last_ts_ms") || intern(&a_book_ts_ms, "book_ts_ms") ||
        intern(&a_book, "book") || intern(&a_hash, "hash") || intern(&k_asset_id, "asset_id") ||
        intern(&k_side, "side") || intern(&k_price, "price") || intern(&k_size, "size") || intern(&k_hash, "hash") ||
        intern(&k_best_bid, "best_bid") || intern(&k_best_ask, "best_ask"))
        return NULL;

    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "L2Book", (PyObject *)&BookType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
