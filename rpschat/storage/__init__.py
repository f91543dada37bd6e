"""Storage: the domain's ports (domain/ports.py, domain/game/ports.py), each in up to three kinds.

- `memory/`: in this process (`DATABASE_URL=memory://`, and a single node's live state);
- `sql/`: SQLite or PostgreSQL, what lasts: history, results, claimed names, finished games,
  direct messages, moderation, resume tokens; one `Database` shared by them all;
- `redis/`: what every node must see (REDIS_URL).

`common.py` is what the three share; `confusables.py` and `passwords.py` bring ICU's look-alike
skeletons and Argon2id to the domain's name and password rules. The composition root
(rpschat/composition.py) picks the kinds from the settings.
"""
