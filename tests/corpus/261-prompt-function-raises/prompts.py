def build(vars):
    return "Review: " + vars["text"]
