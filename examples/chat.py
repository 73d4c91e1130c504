# Asks the proxy with the OpenAI SDK: pip install openai && python examples/chat.py
import openai

client = openai.OpenAI(base_url="http://localhost:8000/v1", api_key="unused")
response = client.chat.completions.create(
    model="internlm/internlm2.5-latest",
    messages=[{"role": "user", "content": "Hello!"}],
)
print(response.choices[0].message.content)
