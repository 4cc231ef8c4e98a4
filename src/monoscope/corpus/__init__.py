"""Corpus layer: text sources (embedded default, files, folders, Hugging Face) and tokenisation into contexts."""
from .contexts import Context, count_tokens, iter_contexts, iter_token_ids
from .sources import (DEFAULT_LANGS, DEFAULT_SOURCES, SUPPORTED_SUFFIXES, CorpusError, Document,
                      default_corpus_path, iter_documents, parse_hf_spec)

__all__ = ["Context", "CorpusError", "DEFAULT_LANGS", "DEFAULT_SOURCES", "Document", "SUPPORTED_SUFFIXES",
           "count_tokens", "default_corpus_path", "iter_contexts", "iter_documents", "iter_token_ids",
           "parse_hf_spec"]
