"""Corpus layer: text sources (embedded default, files, folders, Hugging Face) and tokenisation into contexts."""
from ..lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    'Context': 'contexts',
    'count_tokens': 'contexts',
    'iter_contexts': 'contexts',
    'iter_token_ids': 'contexts',
    'DEFAULT_LANGS': 'sources',
    'DEFAULT_SOURCES': 'sources',
    'SUPPORTED_SUFFIXES': 'sources',
    'CorpusError': 'sources',
    'Document': 'sources',
    'default_corpus_path': 'sources',
    'iter_documents': 'sources',
    'parse_hf_spec': 'sources',
})
