def call(messages, params):
    return "good"
