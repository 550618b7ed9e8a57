/*
 * The anonymiser page: sends the pasted text to the gateway's
 * POST {prefix}/fast_text_mask ({"text": "..."}) and shows the answer,
 * {"text": "<masked>", "mappings": {"{{EMAIL_1}}": "jan@example.com"}}
 * (mappings are empty in static mode, where tokens look like {{EMAIL}}).
 *
 * The endpoint, first found wins:
 *   ?endpoint=/path     in the page's URL; same origin only, so that a
 *                       link cannot send what people paste elsewhere;
 *   <body data-endpoint="...">  set by whoever serves the page;
 *   /api/fast_text_mask the gateway's default prefix.
 *
 * For tests (a headless browser with --dump-dom): ?text=... in the page's
 * URL fills in the text and masks it once on load; after each answer
 * <body data-state> is "done" or "error" ("busy" while waiting, "idle"
 * before the first request), so the browser can wait for it.
 *
 * Everything put into the page goes through textContent: never HTML.
 */
(function () {
    'use strict';

    var DEFAULT_ENDPOINT = '/api/fast_text_mask';
    var TIMEOUT_MS = 60000;

    var $ = function (id) { return document.getElementById(id); };
    var form = $('mask-form');
    var input = $('input');
    var count = $('count');
    var maskButton = $('mask');
    var clearButton = $('clear');
    var errorBox = $('error');
    var result = $('result');
    var output = $('output');
    var copyButton = $('copy');
    var copied = $('copied');
    var mappingsBox = $('mappings-box');
    var mappingsBody = $('mappings').tBodies[0];
    var params = new URLSearchParams(window.location.search);
    var busy = false;
    var copiedTimer = null;

    function setState(state) {
        document.body.dataset.state = state;
    }

    /* The endpoint's URL, or throws an Error to show. */
    function endpoint() {
        var fromQuery = params.get('endpoint');
        var url;

        if (fromQuery) {
            url = new URL(fromQuery, window.location.href);
            if (url.origin !== window.location.origin) {
                throw new Error('The endpoint given in the address (' +
                    fromQuery + ') is not on this server; only a path ' +
                    'here is allowed.');
            }
            return url.href;
        }
        return new URL(document.body.dataset.endpoint || DEFAULT_ENDPOINT,
                       window.location.href).href;
    }

    function characters(s) {
        /* Code points, not UTF-16 units: an emoji counts once. */
        var n = 0;
        for (var i = 0; i < s.length; i++) {
            var c = s.charCodeAt(i);
            if (c < 0xDC00 || c > 0xDFFF || i === 0 ||
                    s.charCodeAt(i - 1) < 0xD800 ||
                    s.charCodeAt(i - 1) > 0xDBFF) {
                n++;
            }
        }
        return n;
    }

    function updateCount() {
        var n = characters(input.value);
        count.textContent = n.toLocaleString('en') +
            (n === 1 ? ' character' : ' characters');
    }

    function showError(message) {
        errorBox.textContent = message;
        errorBox.hidden = false;
    }

    function hideError() {
        errorBox.textContent = '';
        errorBox.hidden = true;
    }

    function setBusy(on) {
        busy = on;
        maskButton.disabled = on;
        maskButton.textContent = on ? 'Masking\u2026' : 'Mask';
        form.setAttribute('aria-busy', on ? 'true' : 'false');
        if (on) {
            setState('busy');
        }
    }

    /* The gateway's error, whichever shape: OpenAI's
     * {"error": {"message", "type", "param", "code"}}, or Ollama's
     * {"error": "..."} (unknown routes under /api). */
    function errorMessage(status, statusText, body) {
        var prefix = 'The gateway refused (HTTP ' + status +
            (statusText ? ' ' + statusText : '') + ')';
        var e = body && body.error;

        if (e && typeof e === 'object' && typeof e.message === 'string' &&
                e.message) {
            return prefix + ': ' + e.message +
                (e.code ? ' [' + e.code + ']' : '');
        }
        if (typeof e === 'string' && e) {
            return prefix + ': ' + e;
        }
        if (status === 413) {
            return prefix + ': the text is too large.';
        }
        if (status === 501) {
            return prefix + ': masking is not available on this server.';
        }
        return prefix + '.';
    }

    function showMappings(text, mappings) {
        var tokens = Object.keys(mappings);

        /* In the order they first appear in the masked text. */
        tokens.sort(function (a, b) {
            var ia = text.indexOf(a);
            var ib = text.indexOf(b);
            if (ia < 0) { ia = Infinity; }
            if (ib < 0) { ib = Infinity; }
            return ia !== ib ? (ia < ib ? -1 : 1) : (a < b ? -1 : a > b ? 1 : 0);
        });
        while (mappingsBody.firstChild) {
            mappingsBody.removeChild(mappingsBody.firstChild);
        }
        tokens.forEach(function (token) {
            var tr = document.createElement('tr');
            var th = document.createElement('th');
            var td = document.createElement('td');
            var code = document.createElement('code');

            th.scope = 'row';
            code.textContent = token;
            th.appendChild(code);
            td.textContent = String(mappings[token]);
            tr.appendChild(th);
            tr.appendChild(td);
            mappingsBody.appendChild(tr);
        });
        mappingsBox.hidden = tokens.length === 0;
    }

    function showResult(body) {
        output.textContent = body.text;
        copied.textContent = '';
        showMappings(body.text, body.mappings && typeof body.mappings ===
                     'object' ? body.mappings : {});
        result.hidden = false;
    }

    function fail(message) {
        result.hidden = true;
        showError(message);
        setState('error');
    }

    function mask() {
        var url;
        var controller = typeof AbortController === 'function'
            ? new AbortController() : null;
        var timer = null;

        if (busy) {
            return;
        }
        hideError();
        try {
            url = endpoint();
        } catch (e) {
            fail(e.message);
            return;
        }
        if (input.value === '') {
            fail('Paste some text first. / Wklej tekst.');
            input.focus();
            return;
        }
        setBusy(true);
        if (controller) {
            timer = setTimeout(function () { controller.abort(); }, TIMEOUT_MS);
        }
        fetch(url, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json',
                       'Accept': 'application/json' },
            body: JSON.stringify({ text: input.value }),
            credentials: 'same-origin',
            cache: 'no-store',
            signal: controller ? controller.signal : undefined
        }).then(function (res) {
            return res.text().then(function (raw) {
                var body = null;
                try {
                    body = JSON.parse(raw);
                } catch (e) {
                    body = null;
                }
                if (!res.ok) {
                    throw new Error(errorMessage(res.status, res.statusText,
                                                 body));
                }
                if (!body || typeof body.text !== 'string') {
                    throw new Error('The gateway answered HTTP ' + res.status +
                        ' but not with {"text": ...}: is ' + url +
                        ' the masking endpoint?');
                }
                return body;
            });
        }, function (e) {
            throw new Error(e && e.name === 'AbortError'
                ? 'The gateway did not answer within ' + TIMEOUT_MS / 1000 +
                  ' seconds.'
                : 'Could not reach the gateway at ' + url +
                  ' (network error' + (e && e.message ? ': ' + e.message : '') +
                  ').');
        }).then(function (body) {
            hideError();
            showResult(body);
            setState('done');
        }, function (e) {
            fail(e.message);
        }).then(function () {
            if (timer) {
                clearTimeout(timer);
            }
            setBusy(false);
        });
    }

    function fallbackCopy(text) {
        var ta = document.createElement('textarea');
        var ok = false;

        ta.value = text;
        ta.setAttribute('readonly', '');
        ta.style.position = 'fixed';
        ta.style.top = '-1000px';
        document.body.appendChild(ta);
        ta.select();
        try {
            ok = document.execCommand('copy');
        } catch (e) {
            ok = false;
        }
        document.body.removeChild(ta);
        return ok;
    }

    function copy() {
        var text = output.textContent;
        var report = function (ok) {
            copied.textContent = ok ? 'Copied.'
                : 'Could not copy: select the text and copy it by hand.';
            clearTimeout(copiedTimer);
            copiedTimer = setTimeout(function () { copied.textContent = ''; },
                                     4000);
        };

        /* The Clipboard API needs a secure context (https or localhost). */
        if (navigator.clipboard && window.isSecureContext) {
            navigator.clipboard.writeText(text).then(function () {
                report(true);
            }, function () {
                report(fallbackCopy(text));
            });
        } else {
            report(fallbackCopy(text));
        }
    }

    form.addEventListener('submit', function (ev) {
        ev.preventDefault();
        mask();
    });
    input.addEventListener('keydown', function (ev) {
        if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) {
            ev.preventDefault();
            mask();
        }
    });
    input.addEventListener('input', updateCount);
    clearButton.addEventListener('click', function () {
        input.value = '';
        updateCount();
        hideError();
        result.hidden = true;
        output.textContent = '';
        showMappings('', {});
        input.focus();
    });
    copyButton.addEventListener('click', copy);

    try {
        $('endpoint').textContent = endpoint();
    } catch (e) {
        $('endpoint').textContent = params.get('endpoint');
    }

    /* ?text=...: fill in and mask once (for tests and links). */
    if (params.has('text')) {
        input.value = params.get('text');
        updateCount();
        mask();
    } else {
        updateCount();
    }
}());
