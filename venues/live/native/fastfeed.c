/* venues.live._fastfeed: the per-frame work of the live feeds that Python does slowly.
 *
 * mirror: a prediction market's other outcome's levels (Kalshi's NO book from its YES book).
 *
 * side_crc: Kraken's book checksum over one side. Every Kraken update carries a CRC32 of the top 10
 * levels of both sides as text (asks then bids; each level's price and quantity at the pair's
 * precision, without the "." and the leading zeros: venues/kraken/feed.py). In Python a side is a
 * memo lookup per level (a tuple hash each), a join, an encode and zlib.crc32: a couple of µs of a
 * cold frame. Here it is the digits written into a buffer and a table CRC32 (zlib's polynomial),
 * the same number (tests/venues/kraken/test_kraken_feed.py compares the two on random books and
 * the documented vector). The Python path stays as the reference and the fallback where this
 * module was not built.
 *
 * Built by `pip install -e .` (setup.py) with the machine's compiler.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#define CHECKSUM_DEPTH 10

static uint32_t crc_table[256];

static void crc_init(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[n] = c;
    }
}

/* zlib.crc32(buf, crc) */
static uint32_t crc32_update(uint32_t crc, const unsigned char *buf, size_t len) {
    crc = ~crc;
    for (size_t i = 0; i < len; i++)
        crc = crc_table[(crc ^ buf[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* The decimal digits of v (>= 0) at out; returns how many. */
static int put_digits(char *out, uint64_t v) {
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (int i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

/* side_crc(levels, price_div, qty_div, crc) -> int
 *
 * zlib.crc32 of the side's text, starting from `crc`: for each of the first 10 (price, qty) levels
 * (ints, price x1e9 and quantity x1e8), the digits of price // price_div then of qty // qty_div.
 * -1 when a value is not an int in [0, 2**63) (the caller then takes the Python path, which has
 * no such limit: a quantity that large is possible on a pair with tiny units). */
static PyObject *side_crc(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "side_crc takes 4 arguments");
        return NULL;
    }
    PyObject *levels = args[0];
    PyObject **items;
    Py_ssize_t n;
    if (PyTuple_CheckExact(levels)) {
        items = &PyTuple_GET_ITEM(levels, 0);
        n = PyTuple_GET_SIZE(levels);
    } else if (PyList_CheckExact(levels)) {
        items = PySequence_Fast_ITEMS(levels);
        n = PyList_GET_SIZE(levels);
    } else {
        PyErr_SetString(PyExc_TypeError, "levels must be a tuple or a list");
        return NULL;
    }
    long long pdiv = PyLong_AsLongLong(args[1]);
    if (pdiv == -1 && PyErr_Occurred())
        return NULL;
    long long qdiv = PyLong_AsLongLong(args[2]);
    if (qdiv == -1 && PyErr_Occurred())
        return NULL;
    unsigned long crc = PyLong_AsUnsignedLong(args[3]);
    if (crc == (unsigned long)-1 && PyErr_Occurred())
        return NULL;
    if (pdiv <= 0 || qdiv <= 0 || crc > 0xffffffffUL) {
        PyErr_SetString(PyExc_ValueError, "side_crc: bad divisor or crc");
        return NULL;
    }
    if (n > CHECKSUM_DEPTH)
        n = CHECKSUM_DEPTH;
    char buf[CHECKSUM_DEPTH * 2 * 20];
    size_t len = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *lv = items[i];
        if (!PyTuple_CheckExact(lv) || PyTuple_GET_SIZE(lv) != 2)
            return PyLong_FromLong(-1);
        PyObject *px = PyTuple_GET_ITEM(lv, 0), *qty = PyTuple_GET_ITEM(lv, 1);
        if (!PyLong_CheckExact(px) || !PyLong_CheckExact(qty))
            return PyLong_FromLong(-1);
        int overflow = 0;
        long long p = PyLong_AsLongLongAndOverflow(px, &overflow);
        if (overflow || p < 0)
            return PyLong_FromLong(-1);
        long long q = PyLong_AsLongLongAndOverflow(qty, &overflow);
        if (overflow || q < 0)
            return PyLong_FromLong(-1);
        len += (size_t)put_digits(buf + len, (uint64_t)(p / pdiv));
        len += (size_t)put_digits(buf + len, (uint64_t)(q / qdiv));
    }
    return PyLong_FromUnsignedLong(crc32_update((uint32_t)crc, (const unsigned char *)buf, len));
}

/* mirror(levels, one) -> tuple
 *
 * A prediction market's other outcome: each (price, size) level as (one - price, size), in the
 * same order (Kalshi's NO book from its YES book: venues/kalshi/feed.py). In Python that is a new
 * tuple per level through a comprehension, on every update that reaches a side's best levels. */
static PyObject *mirror(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "mirror takes 2 arguments");
        return NULL;
    }
    PyObject *levels = args[0], *one = args[1];
    if (!PyTuple_CheckExact(levels)) {
        PyErr_SetString(PyExc_TypeError, "levels must be a tuple");
        return NULL;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(levels);
    PyObject *out = PyTuple_New(n);
    if (out == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *lv = PyTuple_GET_ITEM(levels, i);
        if (!PyTuple_CheckExact(lv) || PyTuple_GET_SIZE(lv) != 2) {
            Py_DECREF(out);
            PyErr_SetString(PyExc_TypeError, "a level must be a (price, size) tuple");
            return NULL;
        }
        PyObject *px = PyNumber_Subtract(one, PyTuple_GET_ITEM(lv, 0));
        if (px == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyObject *qty = PyTuple_GET_ITEM(lv, 1);
        Py_INCREF(qty);
        PyObject *pair = PyTuple_New(2);
        if (pair == NULL) {
            Py_DECREF(px);
            Py_DECREF(qty);
            Py_DECREF(out);
            return NULL;
        }
        PyTuple_SET_ITEM(pair, 0, px);
        PyTuple_SET_ITEM(pair, 1, qty);
        PyTuple_SET_ITEM(out, i, pair);
    }
    return out;
}

static PyMethodDef methods[] = {
    {"mirror", (PyCFunction)(void (*)(void))mirror, METH_FASTCALL,
     "Each (price, size) level as (one - price, size), in the same order."},
    {"side_crc", (PyCFunction)(void (*)(void))side_crc, METH_FASTCALL,
     "Kraken's checksum text of one side's first 10 levels, CRC32'd from crc."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fastfeed", "The per-frame work of the live feeds that Python does slowly.", -1,
    methods,
};

PyMODINIT_FUNC PyInit__fastfeed(void) {
    crc_init();
    return PyModule_Create(&module);
}
