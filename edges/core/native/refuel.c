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
