"""The officer's keys: which KEK versions protect which credentials, rotation, retirement."""
