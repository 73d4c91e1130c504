curl http://localhost:8000/v1/chat/completions \
  -H 'content-type: application/json' \
  -d '{"model":"internlm/internlm2.5-latest","messages":[{"role":"user","content":"Hello!"}]}'
