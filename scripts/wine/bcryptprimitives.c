/*
 * A stand-in for Windows' bcryptprimitives.dll, for running tests under Wine.
 *
 * Rust's standard library (1.78 and later) fills its random state at start-up
 * with `ProcessPrng` from bcryptprimitives.dll, which Wine 8 does not ship:
 * without this file every Windows build of the crate exits at once under
 * Wine ("Library bcryptprimitives.dll not found"). Real Windows (10 and
 * later) has the DLL; this file is never shipped with the library.
 *
 * `ProcessPrng` is answered from `RtlGenRandom` (exported by advapi32 as
 * `SystemFunction036`), which Wine implements over the host's random source.
 * `RtlGenRandom` takes a 32-bit length, so large requests go in pieces.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}

BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, LPVOID reserved)
{
    (void)instance;
    (void)reason;
    (void)reserved;
    return TRUE;
}
