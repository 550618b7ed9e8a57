-- wrk script: POST one small chat completion request.
-- The model is set from the environment so the same script serves the
-- direct run (any model name) and the gateway run (a configured model).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
-- An API key for gateways that ask for one (mod_llm_access).
if os.getenv("BENCH_KEY") then
    wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY")
end
wrk.body = '{"model":"' .. (os.getenv("BENCH_MODEL") or "bench-chat")
    .. '","messages":[{"role":"user","content":"Say hello in one word."}],'
    .. '"temperature":0.2,"max_tokens":16}'
