"""Library code the web layer leans on without patching it: two subclasses handed to public
constructor options (`client_manager=QueueManager`, `serializer=ClientPacket`) and deferred
answers rely on python-socketio code that is not documented API (docs/transport.md, "Seams
outside install()"). tests/unit/test_seam_guard.py fails, naming python-socketio and its
version, when any of it changes, as the transport's own guard does for its patches."""

# the pinned version the seams were written against
WRITTEN_AGAINST = {"socketio": ("python-socketio", "5.18.1")}

# dotted name -> (sha256 of its inspect.getsource, first 12 hex digits; seam)
RELIES_ON = {
    "socketio.pubsub_manager.PubSubManager._handle_emit": ("f1fb64e2d841", "message_queue"),
    "socketio.pubsub_manager.PubSubManager._thread": ("ecce2e6d1001", "message_queue"),
    "socketio.redis_manager.RedisManager._redis_connect": ("da4530c93632", "message_queue"),
    "socketio.redis_manager.RedisManager._redis_listen_with_retries": (
        "a19262da0295",
        "message_queue",
    ),
    "socketio.redis_manager.RedisManager._listen": ("cf4821d0f65d", "message_queue"),
    "socketio.server.Server._handle_event_internal": ("37e1c84a6974", "handlers"),
    "socketio.packet.Packet.decode": ("61ad7904b539", "handlers"),
    "socketio.packet.Packet.add_attachment": ("01e024038f3d", "handlers"),
    # ClientPacket.data_is_binary gives this check's answers, faster
    "socketio.packet.Packet.data_is_binary": ("464dded7ae95", "handlers"),
}
