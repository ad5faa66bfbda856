def build(vars):
    return [{"role": "user"}]
