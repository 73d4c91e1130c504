curl -N http://localhost:8000/v1/chat/completions \
  -H 'content-type: application/json' \
  -d '{"model":"local/any-model","stream":true,"messages":[{"role":"user","content":"Hi"}]}'
