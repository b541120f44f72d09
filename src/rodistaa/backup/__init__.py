"""Backup, restore and verification of the database, the stored files and the audit chain
(docs/runbooks/backup-restore.md).

- `create_backup(settings, *, out_dir, now)` (`create`): one directory per backup, see `manifest`
- `restore_backup(backup, *, database_url, storage_dir)` (`restore`): into an empty database only
- `verify_restore(backup, *, database_url, storage_dir, kms)` (`verify`): counts, chain, files
- `prune_backups(root, *, older_than_days, now)` (`prune`): retention, never the newest backup

`rodistaa backup ...` (`cli`) drives them.
"""
