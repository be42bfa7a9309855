//! The sim agent in throwaway git repositories (being written).
