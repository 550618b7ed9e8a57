// A minimal TAP producer for the npm client tests (read by prove
// through the Apache::Test .t files that run them).
let n = 0;
let failed = 0;

export async function test(name, fn) {
    n++;
    try {
        await fn();
        console.log(`ok ${n} - ${name}`);
    } catch (e) {
        failed++;
        console.log(`not ok ${n} - ${name}`);
        for (const line of String(e && e.stack || e).split('\n')) {
            console.log(`#   ${line}`);
        }
    }
}

export function assert(cond, message) {
    if (!cond) {
        throw new Error(message || 'assertion failed');
    }
}

export function eq(got, want, what) {
    const g = JSON.stringify(got);
    const w = JSON.stringify(want);
    if (g !== w) {
        throw new Error(`${what || 'value'}: got ${g}, expected ${w}`);
    }
}

export function done() {
    console.log(`1..${n}`);
    process.exitCode = failed ? 1 : 0;
}
