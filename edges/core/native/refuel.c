/* refuel: seqcore's `host.refuel` import as a native function, so refilling the fuel before each of
 * an algo's callbacks is not a call into Python (a ctypes trampoline, ~0.4 µs) but a plain C call
 * (~tens of ns). wasmtime calls it as an unchecked host function:
 *     wasm_trap_t *cb(void *env, wasmtime_caller_t *caller, wasmtime_val_raw_t *args, size_t n)
 * `env` points at a struct the Python host owns (edges/core/instance.py, RefuelEnv): the addresses
 * of libwasmtime's wasmtime_caller_context and wasmtime_context_set_fuel, and the fuel per callback.
 * No libc and no symbols imported: the library links against nothing, so one build serves every
 * Linux (or macOS) of its architecture. Built by edges/core/build.py, committed like seqcore.wasm.
 */

typedef unsigned long long u64;

typedef struct {
    void *(*caller_context)(void *caller);
    void *(*set_fuel)(void *context, u64 fuel); /* returns an error only when fuel is off */
    u64 fuel;
} refuel_env;

__attribute__((visibility("default"))) void *seq_refuel(void *env, void *caller, void *args, unsigned long n) {
    refuel_env *e = (refuel_env *)env;
    (void)args;
    (void)n;
    e->set_fuel(e->caller_context(caller), e->fuel);
    return 0;
}

/* seq_call: the host's call into the core in one native call: set the store's fuel to the budget,
 * then wasmtime_func_call_unchecked. From Python that is one ctypes call per update instead of two
 * (each ~0.2 µs of argument conversion and call overhead, on every book a live edge hands an algo).
 * `env` is edges/core/instance.py's CallEnv: libwasmtime's two functions, the store's context, the
 * argument buffer, the trap slot and the fuel; `func` a wasmtime_func_t*. Returns what
 * wasmtime_func_call_unchecked returns (a wasmtime_error_t*, or 0; a trap goes to the trap slot).
 */
typedef struct {
    void *(*set_fuel)(void *context, u64 fuel);
    void *(*call_unchecked)(void *context, const void *func, void *args, unsigned long nargs, void **trap);
    void *context;
    void *args;
    void **trap;
    u64 fuel;
} call_env;

__attribute__((visibility("default"))) void *seq_call(call_env *e, const void *func, unsigned long nargs) {
    e->set_fuel(e->context, e->fuel);
    return e->call_unchecked(e->context, func, e->args, nargs, e->trap);
}
