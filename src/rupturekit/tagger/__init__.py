"""The tag stage: models that tag utterances with codebook labels (an interpretable baseline and a
transformer), their training configs, datasets and evaluation."""
