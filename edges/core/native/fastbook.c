/* edges.core._fastbook: a live book handed to an algo's core in one C call.
 *
 * A live feed hands every book to each algo trading it (edges/dispatch AlgoSlot.on_book). In Python
 * that is two layers on every book: AlgoCore.set_levels packs up to max_depth (price, size) levels
 * of each side into the core's XBOOK area (a memo lookup per level, a join, a slice write), then
 * AlgoCore.on_book writes the top of book into the call's argument slots and calls the core through
 * ctypes (seq_call: set the fuel, wasmtime_func_call_unchecked). Together about 5 µs of a cold
 * book's path, and a Kalshi or Polymarket frame moves two books (YES and NO, or two tokens).
 * `book_call` does all of it here, with the same results byte for byte (tests/edges/core/
 * test_fastbook.py compares the two on random books): the Python methods stay as the reference and
 * the fallback where this module was not built.
 *
 * It keeps the GIL throughout, as ctypes' PYFUNCTYPE calls do: the core's host functions (log,
 * trace) are Python callbacks that take it themselves.
 *
 * Built by `pip install -e .` (setup.py) with the machine's compiler.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

/* edges/core/instance.py CallEnv (and native/refuel.c call_env): the same layout. */
typedef struct {
    void *(*set_fuel)(void *context, uint64_t fuel);
    void *(*call_unchecked)(void *context, const void *func, void *args, size_t nargs, void **trap);
    void *context;
    void *args; /* wasmtime_val_raw_t[]: 16 bytes a slot, an i64 in the first 8 */
    void **trap;
    uint64_t fuel;
} call_env;

/* edges/core/instance.py BookEnv. */
typedef struct {
    call_env *call;
    const void *func;  /* core_on_book's wasmtime_func_t* */
    int64_t *xbook;    /* XBOOK in the core's memory: nb, na, max_depth bid pairs, max_depth ask pairs */
    int64_t max_depth;
} book_env;

/* One side's first n levels, each a (price, size) pair of ints, into dst. 0, or -1 with an
 * exception set (not a sequence of pairs, an int beyond 64 bits). */
static int write_side(int64_t *dst, PyObject *levels, Py_ssize_t n) {
    PyObject **items;
    if (PyTuple_CheckExact(levels)) {
        items = &PyTuple_GET_ITEM(levels, 0);
    } else if (PyList_CheckExact(levels)) {
        items = PySequence_Fast_ITEMS(levels);
    } else {
        PyErr_SetString(PyExc_TypeError, "levels must be a tuple or a list");
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *lv = items[i];
        PyObject *px, *qty;
        if (PyTuple_CheckExact(lv) && PyTuple_GET_SIZE(lv) == 2) {
            px = PyTuple_GET_ITEM(lv, 0);
            qty = PyTuple_GET_ITEM(lv, 1);
        } else if (PyList_CheckExact(lv) && PyList_GET_SIZE(lv) == 2) {
            px = PyList_GET_ITEM(lv, 0);
            qty = PyList_GET_ITEM(lv, 1);
        } else {
            PyErr_SetString(PyExc_TypeError, "a level must be a (price, size) pair");
            return -1;
        }
        if (!PyLong_Check(px) || !PyLong_Check(qty)) {
            PyErr_SetString(PyExc_TypeError, "a level's price and size must be ints");
            return -1;
        }
        long long p = PyLong_AsLongLong(px);
        if (p == -1 && PyErr_Occurred())
            return -1;
        long long q = PyLong_AsLongLong(qty);
        if (q == -1 && PyErr_Occurred())
            return -1;
        dst[2 * i] = (int64_t)p;
        dst[2 * i + 1] = (int64_t)q;
    }
    return 0;
}

static Py_ssize_t side_len(PyObject *levels) {
    if (PyTuple_CheckExact(levels))
        return PyTuple_GET_SIZE(levels);
    if (PyList_CheckExact(levels))
        return PyList_GET_SIZE(levels);
    PyErr_SetString(PyExc_TypeError, "levels must be a tuple or a list");
    return -1;
}

/* Write one side unless it is the very tuple XBOOK holds already (held[k]), then remember it
 * (a list may change in place: never remembered). On failure the side is forgotten. */
static int put_side(int64_t *dst, PyObject *held, Py_ssize_t k, PyObject *levels, Py_ssize_t n) {
    if (PyList_GET_ITEM(held, k) == levels)
        return 0;
    if (write_side(dst, levels, n) < 0) {
        Py_INCREF(Py_None);
        PyList_SetItem(held, k, Py_None);
        return -1;
    }
    PyObject *keep = PyTuple_CheckExact(levels) ? levels : Py_None;
    Py_INCREF(keep);
    PyList_SetItem(held, k, keep); /* steals keep, releases the old one */
    return 0;
}

static int as_i64(PyObject *o, int64_t *out) {
    long long v = PyLong_AsLongLong(o);
    if (v == -1 && PyErr_Occurred())
        return -1;
    *out = (int64_t)v;
    return 0;
}

/* book_call(env, held, ts, bid_px, bid_qty, ask_px, ask_qty, bids, asks) -> int | tuple
 *
 * set_levels(bids, asks) then on_book(ts, bid_px, bid_qty, ask_px, ask_qty, -1, -1), as
 * edges/core/instance.py AlgoCore does them. Returns the core's answer (its event count, | the
 * pause flag) as an int; a failed call (a trap, a wasmtime error) returns (error address or 0,)
 * for the Python side to make the AlgoTrap of, with the trap in the trap slot as usual. */
static PyObject *book_call(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 9) {
        PyErr_SetString(PyExc_TypeError, "book_call takes 9 arguments");
        return NULL;
    }
    book_env *e = (book_env *)PyLong_AsVoidPtr(args[0]);
    if (e == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "book_call: no environment");
        return NULL;
    }
    PyObject *held = args[1];
    if (!PyList_CheckExact(held) || PyList_GET_SIZE(held) != 2) {
        PyErr_SetString(PyExc_TypeError, "held must be a list of two");
        return NULL;
    }
    int64_t top[5];
    for (int i = 0; i < 5; i++)
        if (as_i64(args[2 + i], &top[i]) < 0)
            return NULL;
    PyObject *bids = args[7], *asks = args[8];
    Py_ssize_t d = (Py_ssize_t)e->max_depth;
    Py_ssize_t nb = side_len(bids), na = side_len(asks);
    if (nb < 0 || na < 0)
        return NULL;
    if (nb > d)
        nb = d;
    if (na > d)
        na = d;
    int64_t *x = e->xbook;
    x[0] = nb;
    x[1] = na;
    if (put_side(x + 2, held, 0, bids, nb) < 0 || put_side(x + 2 + 2 * d, held, 1, asks, na) < 0)
        return NULL;

    call_env *c = e->call;
    int64_t *w = (int64_t *)c->args;
    w[0] = top[0];
    w[2] = top[1];
    w[4] = top[2];
    w[6] = top[3];
    w[8] = top[4];
    w[10] = -1; /* shape indices: explicit depth */
    w[12] = -1;
    c->set_fuel(c->context, c->fuel); /* cannot fail: the engine consumes fuel */
    void *err = c->call_unchecked(c->context, e->func, c->args, 7, c->trap);
    if (err == NULL && *c->trap == NULL)
        return PyLong_FromLongLong((long long)(w[0] & 0xffffffffLL));
    return Py_BuildValue("(K)", (unsigned long long)(uintptr_t)err);
}

static PyMethodDef methods[] = {
    {"book_call", (PyCFunction)(void (*)(void))book_call, METH_FASTCALL,
     "set_levels(bids, asks), then on_book(...) with explicit depth, in one call."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fastbook", "A live book handed to an algo's core in one C call.", -1, methods,
};

PyMODINIT_FUNC PyInit__fastbook(void) { return PyModule_Create(&module); }
