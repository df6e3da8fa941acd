"""What every sandbox shares, below all of them: nothing here imports a service package.

`base` (the recording server, fault knobs), `hooks` (outbound webhook delivery, the HMAC every
vendor signs with), `openapi` (request bodies checked against a vendor's published spec),
`ratelimit` (fixed-window counters), `tokens` (opaque page tokens), `tickets` (Cogny ticket data).
"""
