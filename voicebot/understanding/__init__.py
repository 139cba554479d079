"""What a caller means: a learned intent classifier, fitted on a labelled corpus.

    encoder     all-MiniLM-L6-v2 sentence embeddings, in numpy, loaded by path
    classifier  features (embedding, question kind, word n-grams) -> softmax
                regression over ``INTENTS``; fitted by ``fit``, saved as .npz
    decision    one turn -> one intent: clauses, priorities, abstention, vetoes
    corpus      the labelled utterances (tests/understanding/corpus/)
    evaluate    per-intent precision and recall, false confirmations, missed
                opt-outs, time per utterance (``voicebot eval-understanding``)

Values (ratings, times, amounts, digits) and secrets stay with the rules in
``voicebot/dialog``; this package only says which intent a turn carries.
"""
