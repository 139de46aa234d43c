@file:Suppress("unused", "UNUSED_PARAMETER")

package com.google.ai.edge.litertlm

import kotlinx.coroutines.flow.Flow

sealed class Backend {
    class CPU : Backend()
    class GPU : Backend()
}

data class EngineConfig(
    val modelPath: String,
    val backend: Backend = Backend.CPU(),
    val visionBackend: Backend? = null,
    val audioBackend: Backend? = null,
    val maxNumTokens: Int? = null,
    val cacheDir: String? = null,
)

data class SamplerConfig(val topK: Int, val topP: Double, val temperature: Double, val seed: Int = 0)

data class ConversationConfig(val samplerConfig: SamplerConfig? = null)

class Message

class Conversation : AutoCloseable {
    fun sendMessageAsync(message: String): Flow<Message> = TODO()
    override fun close() {}
}

class Engine(config: EngineConfig) : AutoCloseable {
    fun initialize() {}
    fun createConversation(config: ConversationConfig = ConversationConfig()): Conversation = TODO()
    override fun close() {}
}
